/**
 * Hostile input over real HTTP (SPEC §3): NUL characters and lone surrogates
 * in every text field, path, query and header; numbers JSON can write but no
 * field can hold; prototype keys; absurd nesting and sizes; methods nobody
 * routes. Every answer is a 4xx in the service's own `{code, message}` shape,
 * never a 500, and the data is exactly as before.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { fundWallet, makeProduct } from './fixtures.js';
import { isError, jwtSecret, setupApp, uniqueUser } from './helper.js';
import { rawRequest, requestText, type RawAnswer } from './support/raw-http.js';

// A database of its own on PostgreSQL: the "nothing changed" check counts whole tables.
const { db, auth, url } = await setupApp({}, { ownDatabase: true });
const port = Number(new URL(await url()).port);

const userId = uniqueUser('hostile');
const user = `Bearer ${auth.sign(userId)}`;
const admin = `Bearer ${auth.sign('admin-hostile', { admin: true })}`;
let productId = 0;
const campaignCode = `HOSTILE-${randomUUID()}`;

before(async () => {
  productId = await makeProduct(db, 1_000, 100);
  await fundWallet(db, userId, 50_000);
  const created = await send('POST', '/api/admin/coupons', { authorization: admin }, { code: campaignCode, name: 'n', discountType: 'FIXED', discountValue: 100, totalQuantity: 5 });
  assert.equal(created.status, 201, created.text);
});

/** Everything a refused request could have changed, in one row. */
async function snapshot(): Promise<unknown> {
  const [row] = await db.query(`SELECT
      (SELECT count(*)::int FROM products) AS products,
      (SELECT coalesce(sum(stock), 0)::bigint FROM products) AS stock,
      (SELECT string_agg(name || ':' || price, ',' ORDER BY id) FROM products) AS names,
      (SELECT count(*)::int FROM coupon_campaigns) AS campaigns,
      (SELECT coalesce(sum(issued_quantity), 0)::bigint FROM coupon_campaigns) AS issued,
      (SELECT count(*)::int FROM coupons) AS coupons,
      (SELECT count(*)::int FROM orders) AS orders,
      (SELECT count(*)::int FROM point_ledger) AS ledger,
      (SELECT coalesce(sum(balance), 0)::bigint FROM wallets) AS balances`);
  return row;
}

async function send(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<RawAnswer> {
  return rawRequest(port, requestText(method, path, { connection: 'close', ...headers }, body));
}

function assertRefused(answer: RawAnswer, what: string, status?: number, code?: string): void {
  const shown = `${what}: ${answer.status} ${answer.text.slice(0, 300)}`;
  assert.ok(answer.status >= 400 && answer.status < 500, shown);
  assert.ok(typeof answer.body?.code === 'string' && /^[A-Z_]+$/.test(answer.body.code), shown);
  assert.ok(isError(answer.body, answer.body.code), shown);
  assert.ok(!('error' in answer.body) && !('statusCode' in answer.body), `not our shape: ${shown}`);
  if (status !== undefined) assert.equal(answer.status, status, shown);
  if (code !== undefined) assert.equal(answer.body.code, code, shown);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A validly signed HS256 token whatever its `sub`. */
function tokenFor(sub: string): string {
  const body = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}`;
  return `${body}.${createHmac('sha256', jwtSecret).update(body).digest('base64url')}`;
}

const badTexts: Array<[string, string]> = [
  ['NUL', '\u0000'],
  ['NUL inside', 'A\u0000B'],
  ['lone high surrogate', 'x\ud800'],
  ['lone low surrogate', '\udfffy'],
];

type Case = { what: string; method: string; path: string; body?: unknown; headers?: Record<string, string>; status?: number; code?: string };

function textCases(): Case[] {
  const cases: Case[] = [];
  const orderKey = () => ({ authorization: user, 'idempotency-key': randomUUID() });
  for (const [label, text] of badTexts) {
    const v = { status: 400, code: 'VALIDATION_ERROR' };
    cases.push(
      { what: `product name (${label})`, method: 'POST', path: '/api/admin/products', headers: { authorization: admin }, body: { name: text, price: 1, stock: 1 }, ...v },
      { what: `patched name (${label})`, method: 'PATCH', path: `/api/admin/products/${productId}`, headers: { authorization: admin }, body: { name: text }, ...v },
      { what: `campaign code (${label})`, method: 'POST', path: '/api/admin/coupons', headers: { authorization: admin }, body: { code: text, name: 'n', discountType: 'FIXED', discountValue: 1, totalQuantity: 1 }, ...v },
      { what: `campaign name (${label})`, method: 'POST', path: '/api/admin/coupons', headers: { authorization: admin }, body: { code: `C-${randomUUID()}`, name: text, discountType: 'FIXED', discountValue: 1, totalQuantity: 1 }, ...v },
      { what: `eligibleUserIds (${label})`, method: 'POST', path: '/api/admin/coupons', headers: { authorization: admin }, body: { code: `C-${randomUUID()}`, name: 'n', discountType: 'FIXED', discountValue: 1, totalQuantity: 1, eligibleUserIds: ['ok', text] }, ...v },
      { what: `claim couponCode (${label})`, method: 'POST', path: '/api/coupons', headers: { authorization: user }, body: { couponCode: text }, ...v },
      { what: `a key of the body (${label})`, method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: { amount: 1_000, [text]: 1 }, ...v },
      { what: `token sub (${label}) on GET /api/points`, method: 'GET', path: '/api/points', headers: { authorization: `Bearer ${tokenFor(text)}` }, status: 401, code: 'UNAUTHORIZED' },
      { what: `token sub (${label}) on charge`, method: 'POST', path: '/api/points/charge', headers: { authorization: `Bearer ${tokenFor(text)}` }, body: { amount: 1_000 }, status: 401, code: 'UNAUTHORIZED' },
      { what: `order body text (${label})`, method: 'POST', path: '/api/orders', headers: orderKey(), body: { items: [{ productId, quantity: 1 }], note: text }, ...v },
    );
  }
  const v = { status: 400, code: 'VALIDATION_ERROR' };
  cases.push(
    { what: 'NUL in a coupon code path', method: 'GET', path: '/api/admin/coupons/A%00B', headers: { authorization: admin }, ...v },
    { what: 'NUL alone as a path', method: 'GET', path: '/api/admin/coupons/%00', headers: { authorization: admin }, ...v },
    { what: 'NUL in a product id path', method: 'GET', path: '/api/products/1%00', headers: { authorization: user }, ...v },
    { what: 'NUL in an order id path', method: 'GET', path: `/api/orders/${randomUUID()}%00`, headers: { authorization: user }, ...v },
    { what: 'NUL in a cursor', method: 'GET', path: '/api/orders?cursor=a%00b', headers: { authorization: user }, ...v },
    { what: 'NUL in limit', method: 'GET', path: '/api/products?limit=1%00', headers: { authorization: user }, ...v },
    { what: 'a surrogate as UTF-8 bytes in a path', method: 'GET', path: '/api/admin/coupons/%ED%A0%80', headers: { authorization: admin } },
    { what: 'a broken escape in a path', method: 'GET', path: '/api/admin/coupons/%zz', headers: { authorization: admin }, ...v },
    { what: 'an overlong path parameter', method: 'GET', path: `/api/admin/coupons/${'x'.repeat(5_000)}`, headers: { authorization: admin }, ...v },
    { what: 'NUL in the Idempotency-Key', method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': 'a\u0000b' }, body: { items: [{ productId, quantity: 1 }] }, ...v },
    { what: 'NUL in the Authorization header', method: 'GET', path: '/api/points', headers: { authorization: `Bearer ${tokenFor(userId)}\u0000` }, ...v },
    { what: 'NUL in another header', method: 'GET', path: '/api/points', headers: { authorization: user, 'x-note': 'a\u0000b' }, ...v },
    { what: 'a control character in a header name', method: 'GET', path: '/api/points', headers: { authorization: user, 'x\u0001y': '1' }, ...v },
    { what: 'a charge key sent twice', method: 'POST', path: '/api/points/charge', headers: { authorization: user, 'idempotency-key': 'k1\r\nIdempotency-Key: k2' }, body: { amount: 1_000 }, ...v },
    { what: 'an order key sent twice', method: 'POST', path: '/api/orders', headers: { authorization: user, 'Idempotency-Key': `${randomUUID()}\r\nidempotency-key: other` }, body: { items: [{ productId, quantity: 1 }] }, ...v },
    { what: 'an order key sent twice, same value', method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': 'same\r\nidempotency-key: same' }, body: { items: [{ productId, quantity: 1 }] }, ...v },
  );
  return cases;
}

function numberCases(): Case[] {
  const cases: Case[] = [];
  const numbers: Array<[string, string]> = [
    ['1e309', '1e309'],
    ['-1e309', '-1e309'],
    ['2**53+1', '9007199254740993'],
    ['1e-7', '1e-7'],
    ['-1', '-1'],
    ['1.5', '1.5'],
  ];
  for (const [label, n] of numbers) {
    cases.push(
      { what: `price ${label}`, method: 'POST', path: '/api/admin/products', headers: { authorization: admin }, body: `{"name":"n","price":${n},"stock":1}` },
      { what: `patched stock ${label}`, method: 'PATCH', path: `/api/admin/products/${productId}`, headers: { authorization: admin }, body: `{"stock":${n}}` },
      { what: `charge ${label}`, method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: `{"amount":${n}}` },
      { what: `productId ${label}`, method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': randomUUID() }, body: `{"items":[{"productId":${n},"quantity":1}]}` },
      { what: `couponId ${label}`, method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': randomUUID() }, body: `{"items":[{"productId":${productId},"quantity":1}],"couponId":${n}}` },
      { what: `totalQuantity ${label}`, method: 'POST', path: '/api/admin/coupons', headers: { authorization: admin }, body: `{"code":"N-${randomUUID()}","name":"n","discountType":"FIXED","discountValue":1,"totalQuantity":${n}}` },
    );
  }
  cases.push(
    { what: 'quantity -0', method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': randomUUID() }, body: `{"items":[{"productId":${productId},"quantity":-0}]}`, status: 400 },
    { what: 'charge -0', method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: '{"amount":-0}', status: 400 },
    { what: 'couponId -0', method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': randomUUID() }, body: `{"items":[{"productId":${productId},"quantity":1}],"couponId":-0}`, status: 400 },
    { what: 'limit 1e309', method: 'GET', path: '/api/products?limit=1e309', headers: { authorization: user }, status: 400 },
    { what: 'product id 2**53+1', method: 'GET', path: '/api/products/9007199254740993', headers: { authorization: user } },
    { what: 'a FIXED campaign with maxDiscountAmount', method: 'POST', path: '/api/admin/coupons', headers: { authorization: admin }, body: { code: `F-${randomUUID()}`, name: 'n', discountType: 'FIXED', discountValue: 100, totalQuantity: 1, maxDiscountAmount: 50 }, status: 400, code: 'VALIDATION_ERROR' },
  );
  return cases;
}

function shapeCases(): Case[] {
  const deep = (open: string, close: string) => `${open.repeat(10_000)}${close.repeat(10_000)}`;
  const v = { status: 400, code: 'VALIDATION_ERROR' };
  return [
    { what: '__proto__ key', method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: '{"amount":1000,"__proto__":{"admin":true}}', ...v },
    { what: 'nested __proto__', method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': randomUUID() }, body: `{"items":[{"productId":${productId},"quantity":1,"__proto__":{"quantity":0}}]}`, ...v },
    { what: 'constructor.prototype', method: 'POST', path: '/api/admin/products', headers: { authorization: admin }, body: '{"name":"n","price":1,"stock":1,"constructor":{"prototype":{"x":1}}}', ...v },
    { what: '10,000-deep arrays', method: 'POST', path: '/api/orders', headers: { authorization: user, 'idempotency-key': randomUUID() }, body: `{"items":${deep('[', ']')}}`, ...v },
    { what: '10,000-deep objects', method: 'POST', path: '/api/admin/coupons', headers: { authorization: admin }, body: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, ...v },
    { what: '10,000-deep with a NUL at the bottom', method: 'POST', path: '/api/coupons', headers: { authorization: user }, body: `{"couponCode":${'['.repeat(10_000)}"\\u0000"${']'.repeat(10_000)}}`, ...v },
    { what: 'a 1 MB body', method: 'POST', path: '/api/admin/products', headers: { authorization: admin }, body: JSON.stringify({ name: 'x'.repeat(1024 * 1024), price: 1, stock: 1 }), ...v },
    { what: 'broken JSON', method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: '{"amount":', ...v },
    { what: 'a raw NUL byte in JSON', method: 'POST', path: '/api/coupons', headers: { authorization: user }, body: `{"couponCode":"a\u0000b"}`, ...v },
    { what: 'text/plain body', method: 'POST', path: '/api/points/charge', headers: { authorization: user, 'content-type': 'text/plain' }, body: 'amount=1000', ...v },
    { what: 'a JSON string as body', method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: '"\\u0000"', ...v },
    { what: 'a JSON null body', method: 'POST', path: '/api/points/charge', headers: { authorization: user }, body: 'null', ...v },
  ];
}

function methodCases(): Case[] {
  const methods = ['PROPFIND', 'MKCOL', 'FOO', 'TRACE', 'SEARCH', 'M-SEARCH', 'PURGE', 'BREW', 'PUT', 'DELETE', 'OPTIONS'];
  return methods.flatMap((method) => [
    { what: `${method} /api/orders`, method, path: '/api/orders', headers: { authorization: user } },
    { what: `${method} /api/points/charge with a body`, method, path: '/api/points/charge', headers: { authorization: user }, body: { amount: 1_000 } },
  ]);
}

describe('hostile input: never a 500, always our error shape, nothing changed (SPEC §3)', () => {
  const groups: Array<[string, () => Case[]]> = [
    ['NUL and lone surrogates in every text field, path and header', textCases],
    ['numbers no field can hold', numberCases],
    ['prototype keys, nesting, sizes and broken bodies', shapeCases],
    ['odd methods', methodCases],
  ];
  for (const [name, cases] of groups) {
    it(name, async () => {
      const before = await snapshot();
      for (const c of cases()) assertRefused(await send(c.method, c.path, c.headers ?? {}, c.body), c.what, c.status, c.code);
      assert.deepEqual(await snapshot(), before, 'a refused request changed data');
    });
  }

  it('the scheme name is case-insensitive (RFC 7235), and the same token still works', async () => {
    const token = auth.sign(userId);
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const answer = await send('GET', '/api/points', { authorization: `${scheme} ${token}` });
      assert.equal(answer.status, 200, `${scheme}: ${answer.text}`);
      assert.equal(answer.body.userId, userId);
    }
    for (const bad of [`Bearer${token}`, `Bearerx ${token}`, `Basic ${token}`, `bearer\t${token}`]) {
      assertRefused(await send('GET', '/api/points', { authorization: bad }), bad.slice(0, 10), 401, 'UNAUTHORIZED');
    }
  });

  it('a key that holds ", " once is one key, not a repeat', async () => {
    const key = `a, b-${randomUUID()}`;
    const first = await send('POST', '/api/points/charge', { authorization: user, 'idempotency-key': key }, { amount: 1_000 });
    assert.equal(first.status, 200, first.text);
    const again = await send('POST', '/api/points/charge', { authorization: user, 'idempotency-key': key }, { amount: 1_000 });
    assertRefused(again, 'the same key again', 409, 'DUPLICATE_REQUEST');
  });
});
