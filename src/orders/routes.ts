import type { Api } from '../app.js';
import { AppError } from '../errors.js';
import { PageQuery } from '../pagination.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import { cancelOrder } from './cancel.js';
import { findOrder, listOrders } from './queries.js';
import { CreateOrderBody, IdempotencyHeaders, OrderBody, OrderIdParams, OrderList, PaidOrder } from './schemas.js';
import { createOrder, orderMessages } from './service.js';

const tags = ['orders'];

function orderNotFound(): AppError {
  return new AppError('ORDER_NOT_FOUND', orderMessages.notFound);
}

export async function orderRoutes(api: Api): Promise<void> {
  const { db, cursors, prices } = api.ctx;

  api.post(
    '/orders',
    {
      schema: {
        tags,
        security: bearerSecurity,
        headers: IdempotencyHeaders,
        body: CreateOrderBody,
        response: { 200: PaidOrder, ...errorResponses(402, 404, 409, 422, 503) },
      },
    },
    async (request) => createOrder({ db, prices }, request.principal.userId, request.headers['idempotency-key'], request.body),
  );

  api.get(
    '/orders/:id',
    { schema: { tags, security: bearerSecurity, params: OrderIdParams, response: { 200: OrderBody, ...errorResponses(404) } } },
    async (request) => {
      const order = await findOrder(db, request.principal.userId, request.params.id);
      if (order === undefined) throw orderNotFound();
      return { order };
    },
  );

  api.get(
    '/orders',
    { schema: { tags, security: bearerSecurity, querystring: PageQuery, response: { 200: OrderList, ...errorResponses() } } },
    async (request) => {
      const { limit = 20, cursor } = request.query;
      let after;
      if (cursor !== undefined) {
        const [createdAt, id] = cursors.decode('orders', cursor, 2) as [string, string];
        after = { createdAt, id };
      }
      const rows = await listOrders(db, request.principal.userId, after, limit + 1);
      const page = cursors.page('orders', rows, limit, (row) => [row.position.createdAt, row.position.id]);
      return { orders: page.items.map((row) => row.order), nextCursor: page.nextCursor };
    },
  );

  api.post(
    '/orders/:id/cancel',
    { schema: { tags, security: bearerSecurity, params: OrderIdParams, response: { 200: OrderBody, ...errorResponses(404, 409) } } },
    async (request) => {
      const order = await cancelOrder(db, request.principal.userId, request.params.id);
      if (order === undefined) throw orderNotFound();
      return { order };
    },
  );
}
