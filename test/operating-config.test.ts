/** The operating settings parse as the README says, and bad values stop the process with a message. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

const postgres = { DATABASE_URL: 'postgres://127.0.0.1/x' };

describe('operating configuration', () => {
  it('has the documented defaults', () => {
    const config = loadConfig({}, 8);
    assert.equal(config.metricsPort, undefined);
    assert.equal(config.workers, 1);
    assert.deepEqual(config.rateLimits, { orders: { max: 20, windowMs: 1_000 }, claims: { max: 10, windowMs: 60_000 }, charges: { max: 10, windowMs: 1_000 } });
    assert.equal(config.shedLoopDelayMs, 50);
    assert.equal(config.shedDbWaitingMax, 256);
    assert.equal(config.rateLimitRedisTimeoutMs, 200);
    assert.equal(loadConfig({ RATE_LIMIT_REDIS_TIMEOUT_MS: '750' }).rateLimitRedisTimeoutMs, 750);
  });

  it('reads limits in every unit, and off', () => {
    const config = loadConfig({ RATE_LIMIT_ORDERS: '500/250ms', RATE_LIMIT_CLAIMS: '3/2m', RATE_LIMIT_CHARGES: 'off' });
    assert.deepEqual(config.rateLimits, { orders: { max: 500, windowMs: 250 }, claims: { max: 3, windowMs: 120_000 }, charges: null });
    assert.deepEqual(loadConfig({ RATE_LIMIT_ORDERS: '1/1h' }).rateLimits.orders, { max: 1, windowMs: 3_600_000 });
  });

  it('refuses malformed limits, ports and worker counts', () => {
    for (const env of [
      { RATE_LIMIT_ORDERS: '20' },
      { RATE_LIMIT_ORDERS: '20/1' },
      { RATE_LIMIT_ORDERS: '0/1s' },
      { RATE_LIMIT_ORDERS: '20/10ms' },
      { RATE_LIMIT_CLAIMS: '10/2d' },
      { RATE_LIMIT_CHARGES: 'OFF' },
      { METRICS_PORT: 'x' },
      { METRICS_PORT: '70000' },
      { WORKERS: '0', ...postgres },
      { WORKERS: 'all', ...postgres },
      { SHED_LOOP_DELAY_MS: '-1' },
      { RATE_LIMIT_REDIS_TIMEOUT_MS: '0' },
      { RATE_LIMIT_REDIS_TIMEOUT_MS: 'soon' },
    ]) {
      assert.throws(() => loadConfig(env), ConfigError, JSON.stringify(env));
    }
  });

  it('runs the workers asked for on PostgreSQL, auto = the cores, and one on the embedded database', () => {
    assert.equal(loadConfig({ WORKERS: '3', ...postgres }, 8).workers, 3);
    assert.equal(loadConfig({ WORKERS: 'auto', ...postgres }, 8).workers, 8);
    const embedded = loadConfig({ WORKERS: '4' }, 8);
    assert.equal(embedded.workers, 1);
    assert.equal(embedded.workersRefused, 4);
    assert.equal(loadConfig({ WORKERS: '1' }).workersRefused, undefined);
    assert.equal(loadConfig({ METRICS_PORT: '9464' }).metricsPort, 9464);
  });
});
