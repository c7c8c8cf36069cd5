/**
 * Orders as a plugin: the one payment batcher of this instance and the order
 * routes under /api. Load shedding counts the orders waiting in the batcher
 * (`payments`) as waiting for the database.
 */
import fp from 'fastify-plugin';
import { apiRoutes, type Api } from '../api.js';
import { orderRoutes } from './routes.js';
import { makePaymentBatcher, type OrderDeps, type PaymentBatcher } from './service.js';

declare module 'fastify' {
  interface FastifyInstance {
    payments: PaymentBatcher;
  }
}

async function setupOrders(app: Api): Promise<void> {
  const payments = makePaymentBatcher(app.db);
  app.decorate('payments', payments);
  const deps: OrderDeps = { payments, journal: app.journal, products: app.productCache, now: app.now };
  await apiRoutes(app, (api) => orderRoutes(api, deps));
}

export const orders = fp(setupOrders, {
  name: 'orders',
  dependencies: ['database', 'products', 'recovery', 'authentication', 'pagination', 'load-shedding'],
});
