import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { createSigner } from 'fast-jwt';
import { bearer, call, isError, jwtSecret, setupApp } from './helper.js';

const { app, auth } = await setupApp();

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A token built by hand, to send what a library would refuse to make. */
function handMade(header: object, payload: object, secret = jwtSecret): string {
  const body = `${base64url(header)}.${base64url(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

async function status(headers: Record<string, string>, url = '/api/products') {
  return call(app, { method: 'GET', url, headers });
}

describe('authentication (SPEC §3)', () => {
  const cases: Array<[string, () => Promise<Record<string, string>>]> = [
    ['missing header', async () => ({})],
    ['not a bearer', async () => ({ authorization: 'Basic dXNlcjpwYXNz' })],
    ['malformed token', async () => ({ authorization: 'Bearer not.a.jwt' })],
    ['empty bearer', async () => ({ authorization: 'Bearer ' })],
    ['wrong signature', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 'a', exp: inAnHour() }, 'another-secret-0123456789')}` })],
    ['expired', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 'a', exp: Math.floor(Date.now() / 1000) - 10 })}` })],
    ['no exp', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 'a' })}` })],
    ['no sub', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { exp: inAnHour() })}` })],
    ['sub too long', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 'x'.repeat(65), exp: inAnHour() })}` })],
    ['sub not a string', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 42, exp: inAnHour() })}` })],
    ['alg none', async () => ({ authorization: `Bearer ${base64url({ alg: 'none' })}.${base64url({ sub: 'a', exp: inAnHour() })}.` })],
    ['alg HS512', async () => ({ authorization: `Bearer ${createSigner({ key: 'x'.repeat(64), algorithm: 'HS512', expiresIn: '1h' })({ sub: 'a' })}` })],
    ['alg HS384 with the right secret', async () => ({ authorization: `Bearer ${createSigner({ key: jwtSecret, algorithm: 'HS384', expiresIn: '1h' })({ sub: 'a' })}` })],
    ['exp not a number', async () => ({ authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 'a', exp: String(inAnHour()) })}` })],
  ];
  for (const [name, headers] of cases) {
    it(`401 UNAUTHORIZED: ${name}`, async () => {
      const response = await status(await headers());
      assert.equal(response.status, 401);
      assert.ok(isError(response.body, 'UNAUTHORIZED'), JSON.stringify(response.body));
    });
  }

  it('accepts a valid HS256 token with exp and sub', async () => {
    const response = await status({ authorization: `Bearer ${handMade({ alg: 'HS256', typ: 'JWT' }, { sub: 'a', exp: inAnHour() })}` });
    assert.equal(response.status, 200);
  });

  it('403 FORBIDDEN for a user on an admin route, and nothing is created', async () => {
    const response = await call(app, { method: 'POST', url: '/api/admin/products', headers: await bearer(auth, 'plain-user'), body: { name: 'x', price: 1, stock: 1 } });
    assert.equal(response.status, 403);
    assert.ok(isError(response.body, 'FORBIDDEN'));
    const role = await call(app, {
      method: 'POST',
      url: '/api/admin/products',
      headers: { authorization: `Bearer ${handMade({ alg: 'HS256' }, { sub: 'u', role: 'user', exp: inAnHour() })}` },
      body: { name: 'x', price: 1, stock: 1 },
    });
    assert.equal(role.status, 403);
  });

  it('401 comes before validation and before 404 on /api routes', async () => {
    const response = await call(app, { method: 'POST', url: '/api/admin/products', body: '{broken' });
    assert.equal(response.status, 401);
  });
});

describe('service routes', () => {
  it('GET /health and GET /ready need no token', async () => {
    assert.deepEqual((await call(app, { method: 'GET', url: '/health' })).body, { status: 'ok' });
    const ready = await call(app, { method: 'GET', url: '/ready' });
    assert.equal(ready.status, 200);
  });

  it('GET /openapi.json documents every /api route', async () => {
    const response = await call(app, { method: 'GET', url: '/openapi.json' });
    assert.equal(response.status, 200);
    assert.equal(response.body.openapi, '3.0.3');
    const paths = [
      '/api/products', '/api/products/{id}', '/api/products/popular', '/api/admin/products', '/api/admin/products/{id}',
      '/api/points', '/api/points/charge', '/api/points/history',
      '/api/coupons', '/api/admin/coupons', '/api/admin/coupons/{code}',
      '/api/orders', '/api/orders/{id}', '/api/orders/{id}/cancel',
    ];
    for (const path of paths) {
      assert.ok(path in response.body.paths, `${path} missing`);
    }
  });

  it('GET /docs serves a page', async () => {
    const response = await app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /swagger/i);
  });

  it('unknown routes are 404 with a code', async () => {
    for (const url of ['/nope', '/api/nope']) {
      const response = await call(app, { method: 'GET', url, headers: await bearer(auth, 'a') });
      assert.equal(response.status, 404);
      assert.ok(isError(response.body, 'NOT_FOUND'));
    }
  });
});
