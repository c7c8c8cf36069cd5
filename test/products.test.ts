import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, call, isError, setupApp, uniqueUser } from './helper.js';

const { app, auth, db } = await setupApp();
const admin = await bearer(auth, 'admin-1', true);
const user = await bearer(auth, uniqueUser());

async function create(body: unknown) {
  return call(app, { method: 'POST', url: '/api/admin/products', headers: admin, body });
}

async function countProducts(): Promise<number> {
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
  return row!.n;
}

describe('products (SPEC §5, seed 2-1, 2-2)', () => {
  it('admin creates a product; anyone reads it', async () => {
    const created = await create({ name: '무선 이어폰', price: 129_000, stock: 7 });
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.body.product).sort(), ['id', 'name', 'price', 'stock']);
    const read = await call(app, { method: 'GET', url: `/api/products/${created.body.product.id}`, headers: user });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body.product, created.body.product);
  });

  it('admin patches some fields and keeps the rest', async () => {
    const { body } = await create({ name: 'before', price: 100, stock: 1 });
    const id = body.product.id;
    const patched = await call(app, { method: 'PATCH', url: `/api/admin/products/${id}`, headers: admin, body: { price: 250 } });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.product, { id, name: 'before', price: 250, stock: 1 });
    const again = await call(app, { method: 'PATCH', url: `/api/admin/products/${id}`, headers: admin, body: { name: 'after', stock: 0 } });
    assert.deepEqual(again.body.product, { id, name: 'after', price: 250, stock: 0 });
  });

  it('404 PRODUCT_NOT_FOUND with the seed message', async () => {
    for (const response of [
      await call(app, { method: 'GET', url: '/api/products/999999999', headers: user }),
      await call(app, { method: 'PATCH', url: '/api/admin/products/999999999', headers: admin, body: { price: 1 } }),
    ]) {
      assert.equal(response.status, 404);
      assert.ok(isError(response.body, 'PRODUCT_NOT_FOUND'));
      assert.equal(response.body.message, '상품을 찾을 수 없습니다.');
    }
  });

  const badBodies: unknown[] = [
    {},
    { name: 'x', price: 1 },
    { name: '', price: 1, stock: 1 },
    { name: 'x'.repeat(201), price: 1, stock: 1 },
    { name: 'x', price: '1000', stock: 1 },
    { name: 'x', price: 1.5, stock: 1 },
    { name: 'x', price: -1, stock: 1 },
    { name: 'x', price: 1, stock: null },
    { name: 'x', price: true, stock: 1 },
    { name: 'x', price: 1e15, stock: 1 },
    { name: 'x', price: 1, stock: 1, extra: 1 },
    { name: 42, price: 1, stock: 1 },
    [],
    '{"name": "x", "price": 1, ',
    'null',
  ];
  for (const body of badBodies) {
    it(`400 VALIDATION_ERROR and nothing created for ${JSON.stringify(body)}`, async () => {
      const before = await countProducts();
      const response = await create(body);
      assert.equal(response.status, 400);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'), JSON.stringify(response.body));
      assert.equal(await countProducts(), before);
    });
  }

  it('400 for an oversized body and for a non-JSON content type', async () => {
    const huge = await create({ name: 'x'.repeat(300_000), price: 1, stock: 1 });
    assert.equal(huge.status, 400);
    assert.ok(isError(huge.body, 'VALIDATION_ERROR'));
    const text = await call(app, { method: 'POST', url: '/api/admin/products', headers: { ...admin, 'content-type': 'text/plain' }, body: 'name=x' });
    assert.equal(text.status, 400);
  });

  it('400 for an empty or invalid patch, and ids that are not positive integers', async () => {
    const { body } = await create({ name: 'p', price: 1, stock: 1 });
    const empty = await call(app, { method: 'PATCH', url: `/api/admin/products/${body.product.id}`, headers: admin, body: {} });
    assert.equal(empty.status, 400);
    const negative = await call(app, { method: 'PATCH', url: `/api/admin/products/${body.product.id}`, headers: admin, body: { stock: -1 } });
    assert.equal(negative.status, 400);
    for (const id of ['0', '-1', '1.5', 'abc', '1e3', '99999999999999999999', '%20']) {
      const response = await call(app, { method: 'GET', url: `/api/products/${id}`, headers: user });
      assert.equal(response.status, 400, id);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'));
    }
    const read = await call(app, { method: 'GET', url: `/api/products/${body.product.id}`, headers: user });
    assert.deepEqual(read.body.product, body.product);
  });
});

describe('product list pagination', () => {
  async function listAll(limit: number) {
    const pages: any[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = `limit=${limit}${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
      const response = await call(app, { method: 'GET', url: `/api/products?${query}`, headers: user });
      assert.equal(response.status, 200);
      pages.push(response.body.products);
      cursor = response.body.nextCursor;
    } while (cursor !== null && pages.length < 1000);
    return pages;
  }

  it('walks every product once, in id order, ending with a null cursor', async () => {
    for (let i = 0; i < 7; i++) await create({ name: `page-${i}`, price: i, stock: i });
    const total = await countProducts();
    const pages = await listAll(3);
    const ids = pages.flat().map((product) => product.id);
    assert.equal(ids.length, total);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
    assert.equal(new Set(ids).size, ids.length);
    assert.ok(pages.slice(0, -1).every((page) => page.length === 3));
  });

  it('an exact last page has a null cursor; limit 1 and 100 are accepted', async () => {
    const total = await countProducts();
    const exact = await call(app, { method: 'GET', url: `/api/products?limit=${total}`, headers: user });
    assert.equal(exact.body.products.length, total);
    assert.equal(exact.body.nextCursor, null);
    const one = await call(app, { method: 'GET', url: '/api/products?limit=1', headers: user });
    assert.equal(one.body.products.length, 1);
    assert.equal(typeof one.body.nextCursor, 'string');
    const hundred = await call(app, { method: 'GET', url: '/api/products?limit=100', headers: user });
    assert.equal(hundred.status, 200);
  });

  it('defaults to 20 per page', async () => {
    for (let i = 0; i < 21; i++) await create({ name: `bulk-${i}`, price: 1, stock: 1 });
    const response = await call(app, { method: 'GET', url: '/api/products', headers: user });
    assert.equal(response.body.products.length, 20);
    assert.notEqual(response.body.nextCursor, null);
  });

  it('400 for a bad limit or a cursor the service did not issue', async () => {
    const good = (await call(app, { method: 'GET', url: '/api/products?limit=1', headers: user })).body.nextCursor as string;
    const [body] = good.split('.');
    const forged = `${Buffer.from(JSON.stringify(['products', 0])).toString('base64url')}.${good.split('.')[1]}`;
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'cursor=', 'cursor=garbage', `cursor=${body}`, `cursor=${forged}`, 'other=1']) {
      const response = await call(app, { method: 'GET', url: `/api/products?${query}`, headers: user });
      assert.equal(response.status, 400, query);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'));
    }
  });
});
