/**
 * One webhook attempt: a POST to the address the SSRF guard checked, with a
 * deadline on the whole exchange. Redirects are not followed (a 3xx is a
 * failed attempt), and the answer's body is read and thrown away, at most
 * `answerBytesMax` of it.
 */
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolveTarget, TargetRefused } from './ssrf.js';

const answerBytesMax = 64 * 1024;

export type AttemptResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction;
}

export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; allowPrivate: boolean; signal: AbortSignal },
): Promise<AttemptResult> {
  const target = new URL(url);
  let resolved;
  try {
    resolved = await resolveTarget(target.hostname, options.allowPrivate);
  } catch (error) {
    const refused = error instanceof TargetRefused;
    return { ok: false, status: null, error: refused ? `refused: ${error.message}` : `unresolved: ${(error as Error).message}` };
  }
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<AttemptResult>((resolve) => {
    const request = client.request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'commerce-order-service-webhooks' },
        lookup: pinnedLookup(resolved.address, resolved.family),
        signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs), options.signal]),
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > answerBytesMax) response.destroy();
        });
        const settle = () => resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `HTTP ${status}` });
        response.once('end', settle);
        response.once('close', settle);
        response.once('error', settle);
      },
    );
    request.once('error', (error) => {
      const reason = options.signal.aborted ? 'interrupted: the service is stopping'
        : error.name === 'AbortError' || error.name === 'TimeoutError' ? `timeout after ${options.timeoutMs} ms`
        : error.message;
      resolve({ ok: false, status: null, error: reason });
    });
    request.end(body);
  });
}
