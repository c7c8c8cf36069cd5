import type { Api } from '../api.js';
import { DbFailure } from '../db.js';
import { AppError } from '../errors.js';
import { PageQuery, pageRequest } from '../pagination.js';
import type { PendingJournal } from '../recovery/journal.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import { findOrder, listOrders } from './queries.js';
import { CreateOrderBody, IdempotencyHeaders, OrderBody, OrderIdParams, OrderList, PaidOrder, PendingOrder, type Order } from './schemas.js';
import {
  cancelOrder,
  createOrder,
  journaledOrder,
  orderMessages,
  orderNotCancelable,
  orderNotFound,
  orderPositionAfter,
  type OrderDeps,
} from './service.js';

const tags = ['orders'];

/**
 * The 202 promise on every instance (SPEC §8): an order that some journal
 * under DATA_DIR holds is `pending`, whatever the database says, until
 * recovery has recorded it there. Only an answer that would say `success` or
 * `failed` needs the look.
 */
function keepPromise(journal: PendingJournal, order: Order, caughtUp = false): Order {
  if (order.status !== 'success' && order.status !== 'failed') return order;
  const entry = caughtUp ? journal.find(order.orderId) : journal.findNow(order.orderId);
  return entry === undefined ? order : { ...order, status: 'pending', reason: null };
}

export async function orderRoutes(api: Api, deps: OrderDeps): Promise<void> {
  const { db, cursors } = api;
  const { journal, products } = deps;

  api.post(
    '/orders',
    {
      schema: {
        tags,
        security: bearerSecurity,
        headers: IdempotencyHeaders,
        body: CreateOrderBody,
        response: { 200: PaidOrder, 202: PendingOrder, ...errorResponses(402, 404, 409, 422, 503) },
      },
    },
    async (request, reply) => {
      let result;
      try {
        result = await createOrder(deps, request.principal.userId, request.headers['idempotency-key'], request.body);
      } catch (error) {
        // A retried key whose order another instance answered 202 for is pending, not what the database says.
        if (error instanceof AppError && error.code === 'DUPLICATE_REQUEST' && error.fields.status !== 'pending' && journal.findNow(String(error.fields.orderId)) !== undefined) {
          throw new AppError('DUPLICATE_REQUEST', error.message, { ...error.fields, status: 'pending' });
        }
        throw error;
      }
      products.forget(request.body.items.map((line) => line.productId));
      if (result.kind === 'paid') return result.order;
      return reply.code(202).send({ code: 'ORDER_PENDING', message: orderMessages.pending, orderId: result.orderId, status: 'pending' });
    },
  );

  api.get(
    '/orders/:id',
    { schema: { tags, security: bearerSecurity, params: OrderIdParams, response: { 200: OrderBody, ...errorResponses(404) } } },
    async (request) => {
      const found = journal.find(request.params.id);
      const journaled = found !== undefined && found.userId === request.principal.userId ? found : undefined;
      let order;
      try {
        order = await findOrder(db, request.principal.userId, request.params.id);
      } catch (error) {
        // With the database away, a journaled order is still known: pending.
        if (journaled !== undefined && error instanceof DbFailure) return { order: journaledOrder(journaled) };
        throw error;
      }
      if (order === undefined) {
        if (journaled !== undefined) return { order: journaledOrder(journaled) };
        throw orderNotFound();
      }
      return { order: keepPromise(journal, order) };
    },
  );

  api.get(
    '/orders',
    { schema: { tags, security: bearerSecurity, querystring: PageQuery, response: { 200: OrderList, ...errorResponses() } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const after = orderPositionAfter(cursors, 'orders', cursor);
      const rows = await listOrders(db, request.principal.userId, after, limit + 1);
      const page = cursors.page('orders', rows, limit, (row) => [row.position.createdAt, row.position.id]);
      journal.catchUp();
      return { orders: page.items.map((row) => keepPromise(journal, row.order, true)), nextCursor: page.nextCursor };
    },
  );

  api.post(
    '/orders/:id/cancel',
    { schema: { tags, security: bearerSecurity, params: OrderIdParams, response: { 200: OrderBody, ...errorResponses(404, 409) } } },
    async (request) => {
      // An order only the journal holds yet is pending: the user's own, and not cancelable.
      const journaled = journal.find(request.params.id);
      if (journaled !== undefined && journaled.userId === request.principal.userId) {
        throw orderNotCancelable();
      }
      const order = await cancelOrder(db, request.principal.userId, request.params.id);
      if (order === undefined) throw orderNotFound();
      products.forget(order.items.map((item) => item.productId));
      return { order };
    },
  );
}
