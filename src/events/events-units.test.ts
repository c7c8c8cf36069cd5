import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { retryDelayMs } from './backoff.js';
import { newWebhookSecret, signWebhook } from './signature.js';
import { isPublicAddress } from './ssrf.js';

describe('retryDelayMs', () => {
  it('doubles from the minimum, stretched by at most half, capped', () => {
    assert.equal(retryDelayMs(1, 5_000, 3_600_000, () => 0), 5_000);
    assert.equal(retryDelayMs(2, 5_000, 3_600_000, () => 0), 10_000);
    assert.equal(retryDelayMs(4, 5_000, 3_600_000, () => 0.999), Math.round(40_000 * 1.4995));
    assert.equal(retryDelayMs(30, 5_000, 3_600_000, () => 0.5), 3_600_000);
    for (let attempt = 1; attempt <= 12; attempt += 1) {
      const delay = retryDelayMs(attempt, 5_000, 3_600_000);
      assert.ok(delay >= Math.min(3_600_000, 5_000 * 2 ** (attempt - 1)) && delay <= 3_600_000);
    }
  });
});

describe('signWebhook', () => {
  it('signs as Standard Webhooks verifies, and a changed body or timestamp fails', () => {
    const secret = newWebhookSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    const body = JSON.stringify({ id: 'e1', data: { amount: 1_000 } });
    const now = Math.floor(Date.now() / 1000);
    const headers = signWebhook(secret, 'e1', now, body);
    assert.deepEqual(new StandardWebhook(secret).verify(body, headers), JSON.parse(body));
    assert.throws(() => new StandardWebhook(secret).verify(body.replace('1000', '9000'), headers));
    assert.throws(() => new StandardWebhook(newWebhookSecret()).verify(body, headers));
    const old = signWebhook(secret, 'e1', now - 3_600, body);
    assert.throws(() => new StandardWebhook(secret).verify(body, old), 'a timestamp outside the tolerance');
  });
});

describe('isPublicAddress', () => {
  it('refuses private, loopback, link-local, reserved and mapped private addresses', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
      '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1', 'not-an-ip']) {
      assert.equal(isPublicAddress(address), false, address);
    }
  });
  it('lets public addresses through', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isPublicAddress(address), true, address);
    }
  });
});

describe('events configuration', () => {
  it('allows private webhook targets outside production only, and refuses bad values', async () => {
    const { ConfigError, loadConfig } = await import('../config.js');
    const secret = { JWT_SECRET: 'x'.repeat(16) };
    assert.equal(loadConfig(secret).events.webhookAllowPrivate, true);
    assert.equal(loadConfig({ ...secret, NODE_ENV: 'production' }).events.webhookAllowPrivate, false);
    assert.equal(loadConfig({ ...secret, NODE_ENV: 'production', WEBHOOK_ALLOW_PRIVATE: 'true' }).events.webhookAllowPrivate, true);
    assert.equal(loadConfig(secret).events.natsUrl, undefined);
    assert.equal(loadConfig({ ...secret, NATS_URL: 'nats://127.0.0.1:4222' }).events.natsUrl, 'nats://127.0.0.1:4222');
    for (const bad of [{ NATS_URL: 'http://x' }, { WEBHOOK_ALLOW_PRIVATE: 'yes' }, { OUTBOX_RELAY_ENABLED: '1' }, { WEBHOOK_ATTEMPTS_MAX: '0' },
      { WEBHOOK_RETRY_MIN_MS: '5000', WEBHOOK_RETRY_MAX_MS: '1000' }, { OUTBOX_RETENTION_MS: '10' }]) {
      assert.throws(() => loadConfig({ ...secret, ...bad }), ConfigError, JSON.stringify(bad));
    }
  });
});
