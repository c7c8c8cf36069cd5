/**
 * The child-process harness the crash tests use: start, crash, start again on
 * the same data, stop gracefully.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { jwtSecret, testDb } from './helper.js';
import { startService, stopAll } from './support/service-process.js';

after(stopAll);

function serviceEnv(): Record<string, string> {
  const env: Record<string, string> = { JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn' };
  if (testDb === 'postgres') env.DATABASE_URL = process.env.TEST_DATABASE_URL!;
  return env;
}

describe('service child process', () => {
  it('starts ready, dies on SIGKILL, starts again on the same data, and exits 0 on SIGTERM', async () => {
    const first = await startService({ env: serviceEnv() });
    assert.ok(first.pid > 0);
    const ready = await fetch(`${first.url}/ready`);
    assert.equal(ready.status, 200);
    assert.equal(first.kill(), true);
    assert.equal(await first.exited, null);
    assert.equal(first.kill(), false);

    const second = await startService({ env: { ...serviceEnv(), DATA_DIR: first.dataDir } });
    assert.notEqual(second.port, 0);
    assert.equal((await fetch(`${second.url}/health`)).status, 200);
    assert.equal(await second.stop(), 0);
    assert.equal(typeof second.logs(), 'string');
  });

  it('rejects with the output when the service cannot start', async () => {
    await assert.rejects(startService({ env: { ...serviceEnv(), JWT_SECRET: 'short' } }), /exited before it was ready[\s\S]*JWT_SECRET/);
  });
});
