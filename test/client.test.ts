/** The typed client (client/) against a real listener, as another service would use it. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createShopClient, isApiError } from '../client/src/index.js';
import { setupApp, uniqueUser } from './helper.js';

const { auth, url } = await setupApp();
const baseUrl = await url();

it('calls the service with the token it is given, and returns typed bodies and error bodies', async () => {
  const shop = createShopClient({ baseUrl, token: auth.sign(uniqueUser('ops'), { admin: true }) });
  const created = await shop.POST('/api/admin/products', { body: { name: '클라이언트 상품', price: 2_500, stock: 4 } });
  assert.equal(created.response.status, 201);
  assert.equal(created.data?.product.price, 2_500);
  const id = String(created.data!.product.id);
  const read = await shop.GET('/api/products/{id}', { params: { path: { id } } });
  assert.deepEqual(read.data?.product, created.data?.product);

  const refused = await shop.PATCH('/api/admin/products/{id}', { params: { path: { id } }, body: { price: -1 } });
  assert.equal(refused.response.status, 400);
  assert.ok(isApiError(refused.error));
  assert.equal(refused.error.code, 'VALIDATION_ERROR');

  const missing = await shop.GET('/api/admin/orders/{id}', { params: { path: { id: '00000000-0000-4000-8000-000000000000' } } });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.code, 'ORDER_NOT_FOUND');
});

it('asks a token function on every call, and a call may name its own token', async () => {
  let token: string | undefined;
  const shop = createShopClient({ baseUrl, token: () => token });
  assert.equal((await shop.GET('/api/points')).response.status, 401);
  token = auth.sign('client-user');
  const mine = await shop.GET('/api/points');
  assert.equal(mine.data?.userId, 'client-user');
  const other = await shop.GET('/api/points', { headers: { authorization: `Bearer ${auth.sign('someone-else')}` } });
  assert.equal(other.data?.userId, 'someone-else');
});
