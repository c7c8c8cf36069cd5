/**
 * The catalogue as a plugin: the product cache (warmed from the primary),
 * the LISTEN for other instances' product writes when a connection can
 * LISTEN, the popular list, and the product routes under /api. Orders and
 * the admin cancel drop the cache entries their writes change
 * (`productCache`); /ready shows whether the notifications are heard
 * (`productChanges`).
 */
import fp from 'fastify-plugin';
import { apiRoutes, type Api } from '../api.js';
import { primaryReads } from '../replica.js';
import { ProductCache } from './cache.js';
import { ProductChanges } from './changes.js';
import { PopularProducts } from './popular.js';
import { productRoutes } from './routes.js';

declare module 'fastify' {
  interface FastifyInstance {
    productCache: ProductCache;
    popular: PopularProducts;
    /** Undefined when no connection can LISTEN (see `listenForChanges`). */
    productChanges: ProductChanges | undefined;
  }
}

/** How stale `GET /api/products/:id` may be for writes made through other instances. */
const productFreshMs = 1_000;

/**
 * The product change notifications, when a connection can LISTEN:
 * PostgreSQL, through DATABASE_DIRECT_URL, or DATABASE_URL itself when no
 * transaction pooler sits in front of it.
 */
function listenForChanges(app: Api, cache: ProductCache): ProductChanges | undefined {
  const { config } = app;
  const listenUrl = config.databaseDirectUrl ?? (config.dbPoolMode === 'session' ? config.databaseUrl : undefined);
  if (listenUrl === undefined) {
    if (config.databaseUrl !== undefined) {
      app.log.warn('DB_POOL_MODE=transaction without DATABASE_DIRECT_URL: other instances see product changes only as the cache expires (1 s)');
    }
    return undefined;
  }
  const changes = new ProductChanges(listenUrl, config, cache, primaryReads(app.db), app.log);
  app.addHook('onReady', async () => changes.start());
  app.addHook('onClose', async () => changes.stop());
  return changes;
}

async function setupProducts(app: Api): Promise<void> {
  const { config, db, reads, now } = app;
  const cache = new ProductCache(productFreshMs);
  await cache.warm(db);
  app.decorate('productCache', cache);
  app.decorate('productChanges', listenForChanges(app, cache));
  app.decorate(
    'popular',
    new PopularProducts(db, reads, now, app.log, {
      candidatesMax: 100,
      grownMax: 500,
      paymentDurationMaxMs: config.dbStatementTimeoutMs + 5_000,
    }),
  );
  await apiRoutes(app, productRoutes);
}

export const products = fp(setupProducts, {
  name: 'products',
  dependencies: ['database', 'catalogue-reads', 'authentication', 'pagination', 'load-shedding'],
});
