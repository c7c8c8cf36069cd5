/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the secret is
 * `whsec_` and the base64 of a random key; each attempt signs
 * `${id}.${timestamp}.${body}` with HMAC-SHA256 under that key and sends
 * `v1,<base64 signature>` in `webhook-signature`.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';

const secretPrefix = 'whsec_';
const secretKeyBytes = 32;

export function newWebhookSecret(): string {
  return secretPrefix + randomBytes(secretKeyBytes).toString('base64');
}

function secretKey(secret: string): Buffer {
  assert.ok(secret.startsWith(secretPrefix), 'a webhook secret starts with whsec_');
  const key = Buffer.from(secret.slice(secretPrefix.length), 'base64');
  assert.ok(key.length >= 24, 'a webhook secret holds at least 24 bytes');
  return key;
}

export type SignedHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** The three headers of one attempt; `timestampSeconds` is the attempt's Unix time. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string): SignedHeaders {
  assert.ok(Number.isSafeInteger(timestampSeconds) && timestampSeconds > 0);
  const signature = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${signature}` };
}
