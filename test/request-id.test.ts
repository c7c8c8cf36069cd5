/**
 * Request ids: a well-formed `x-request-id` (1–128 visible ASCII characters)
 * is kept, anything else is replaced by a fresh one; the id is echoed on
 * every answer, errors included, and is the `reqId` of every log line of
 * that request.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Authenticator } from '../src/auth.js';
import { bearer, call, jwtSecret, setupApp, testDb } from './helper.js';
import { api, tokenHeader } from './support/ops.js';
import { startService, stopAll } from './support/service-process.js';

after(stopAll);

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('request ids', async () => {
  const t = await setupApp({ RATE_LIMIT_CHARGES: '1/60s' });
  const headers = await bearer(t.auth, 'rid-user');

  it('keeps a well-formed id and echoes it on success and on every kind of error', async () => {
    const cases: Array<[string, Parameters<typeof call>[1], number]> = [
      ['ok-1', { method: 'GET', url: '/health' }, 200],
      ['a'.repeat(128), { method: 'GET', url: '/api/points', headers }, 200],
      ['!~"#$%&()*+,-./:;<=>?@[]^_`{|}', { method: 'GET', url: '/api/points' }, 401],
      ['bad-body', { method: 'POST', url: '/api/points/charge', headers, body: '{"amount":' }, 400],
      ['limited', { method: 'POST', url: '/api/points/charge', headers, body: { amount: 1_000 } }, 429],
      ['nowhere', { method: 'GET', url: '/nowhere' }, 404],
    ];
    for (const [id, request, status] of cases) {
      const response = await call(t.app, { ...request, headers: { ...request.headers, 'x-request-id': id } });
      assert.equal(response.status, status, `${id}: ${JSON.stringify(response.body)}`);
      assert.equal(response.headers['x-request-id'], id);
    }
  });

  it('replaces an id that is empty, too long, or not visible ASCII, and makes one when there is none', async () => {
    const seen = new Set<string>();
    for (const id of [undefined, '', 'a'.repeat(129), 'with space', '한글', 'tab\there']) {
      const response = await call(t.app, { method: 'GET', url: '/health', headers: id === undefined ? {} : { 'x-request-id': id } });
      const echoed = response.headers['x-request-id'] as string;
      assert.match(echoed, uuid, `for ${JSON.stringify(id)}`);
      seen.add(echoed);
    }
    assert.equal(seen.size, 6, 'a fresh id each time');
  });

  it('replaces a repeated header', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': ['one', 'two'] } });
    assert.match(response.headers['x-request-id'] as string, uuid);
  });

  it('is the reqId of every log line of the request, in a real process', async () => {
    const env: Record<string, string> = { JWT_SECRET: jwtSecret, LOG_LEVEL: 'info' };
    if (testDb === 'postgres') env.DATABASE_URL = process.env.TEST_DATABASE_URL!;
    const service = await startService({ env });
    const auth = new Authenticator(jwtSecret);
    const id = `trace-${randomUUID()}`;
    const broken = await api(service.url, 'POST', '/api/orders', { ...tokenHeader(auth, 'rid-log'), 'idempotency-key': 'k', 'x-request-id': id }, { items: 'x' });
    assert.equal(broken.status, 400);
    assert.equal(broken.headers.get('x-request-id'), id);
    await service.stop();
    const lines = service
      .logs()
      .split('\n')
      .filter((line) => line.includes(id))
      .map((line) => JSON.parse(line) as { reqId?: string; msg?: string });
    assert.ok(lines.length >= 2, 'the request was logged coming in and going out');
    assert.ok(lines.every((line) => line.reqId === id));
    assert.deepEqual(lines.map((line) => line.msg).filter((msg) => msg === 'incoming request' || msg === 'request completed'), ['incoming request', 'request completed']);
  });
});
