/**
 * Builds the Fastify application: configuration in, a ready app out. It does
 * not listen (server.ts does), so tests drive it through `inject()` or their
 * own port.
 */
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type RawServerDefault,
} from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { adminConsole } from './admin/console.js';
import { adminRoutes } from './admin/routes.js';
import { Authenticator, forbidden, type Principal } from './auth.js';
import type { Config } from './config.js';
import { DbFailure, openDatabase, openPostgres, type Database } from './db.js';
import { AppError, messages } from './errors.js';
import { clientErrorHandler, frameworkErrors, installInputGuards } from './input-guard.js';
import { collectProcessMetrics, watch } from './metrics.js';
import { migrate } from './migrate.js';
import { instrument, requestIdOf } from './observability.js';
import { CursorCodec } from './pagination.js';
import { installShutdownGate } from './shutdown.js';
import { couponRoutes } from './coupons/routes.js';
import { setupEvents, type Events } from './events/plugin.js';
import { webhookRoutes } from './events/routes.js';
import { orderRoutes } from './orders/routes.js';
import { makePaymentBatcher, type PaymentBatcher } from './orders/service.js';
import { pointRoutes } from './points/routes.js';
import { ProductCache } from './products/cache.js';
import { ProductChanges } from './products/changes.js';
import { PopularProducts } from './products/popular.js';
import { productRoutes } from './products/routes.js';
import { registerRateLimits } from './rate-limit.js';
import { PendingJournal } from './recovery/journal.js';
import { RecoveryWorker } from './recovery/worker.js';
import { primaryReads, ReplicaReads, type CatalogueReads } from './replica.js';
import { LoadShedder } from './shedding.js';

export type AppContext = Readonly<{
  config: Config;
  db: Database;
  auth: Authenticator;
  cursors: CursorCodec;
  products: ProductCache;
  /** Catalogue reads: the replica when there is a usable one, else `db`. Never for payments or writes. */
  reads: CatalogueReads;
  payments: PaymentBatcher;
  popular: PopularProducts;
  journal: PendingJournal;
  recovery: RecoveryWorker;
  /** The outbox relay and webhook delivery of this instance (src/events/). */
  events: Events;
  /** An onRequest hook for admin-only routes; runs after authentication. */
  requireAdmin: (request: FastifyRequest) => Promise<void>;
  /** The service's clock; tests may move it. */
  now: () => Date;
}>;

declare module 'fastify' {
  interface FastifyInstance {
    ctx: AppContext;
  }
  interface FastifyRequest {
    /** Set by the authentication hook on every /api route. */
    principal: Principal;
  }
}

export type Api = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** How stale `GET /api/products/:id` may be for writes made through other instances. */
const productFreshMs = 1_000;
const replicaProbeEveryMs = 100;

export type BuildOptions = {
  /** A database opened by the caller (tests share one); the app will not close it. */
  db?: Database;
  /** False leaves the recovery worker stopped (tests that drive it by hand). */
  recovery?: boolean;
  now?: () => Date;
};

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Bodies are validated strictly (no coercion: "1000" is not a number); path and
 * query values arrive as text and are coerced where the schema asks for numbers.
 */
function makeValidators() {
  const common = { allErrors: false, strict: false, useDefaults: true, removeAdditional: false } as const;
  const body = addFormats(new Ajv({ ...common, coerceTypes: false }));
  const text = addFormats(new Ajv({ ...common, coerceTypes: true }));
  return ({ schema, httpPart }: { schema: object; httpPart?: string }) =>
    (httpPart === 'body' ? body : text).compile(schema);
}

function sendError(reply: FastifyReply, error: AppError): FastifyReply {
  return reply.code(error.status).send({ code: error.code, message: error.message, ...error.fields });
}

function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) return sendError(reply, error);
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined) {
    return reply.code(400).send({ code: 'VALIDATION_ERROR', message: messages.validation, details: fastifyError.message });
  }
  if (error instanceof DbFailure) {
    request.log.warn({ err: error }, 'database unavailable');
    return reply.code(503).header('retry-after', '1').send({ code: 'SERVICE_UNAVAILABLE', message: messages.unavailable });
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    // Broken JSON, a wrong content type, an oversized body: all malformed input.
    if (status === 404) return reply.code(404).send({ code: 'NOT_FOUND', message: messages.notFound });
    return reply.code(400).send({ code: 'VALIDATION_ERROR', message: messages.validation, details: fastifyError.message });
  }
  request.log.error({ err: error }, 'unhandled error');
  return reply.code(500).send({ code: 'INTERNAL_ERROR', message: messages.internal });
}

/**
 * The read replica and the product change notifications, each only when
 * configured: PostgreSQL, and for notifications a connection that can LISTEN
 * (DATABASE_DIRECT_URL, or DATABASE_URL itself when no transaction pooler
 * sits in front of it).
 */
function catalogue(app: Api, config: Config, db: Database, products: ProductCache) {
  const onIdleError = (error: Error) => app.log.warn({ err: error }, 'idle replica connection lost');
  let reads: CatalogueReads = primaryReads(db);
  let replica: ReplicaReads | undefined;
  if (config.databaseReplicaUrl !== undefined) {
    const replicaDb = openPostgres(config.databaseReplicaUrl, config, onIdleError);
    replica = new ReplicaReads(db, replicaDb, { lagMaxMs: config.dbReplicaLagMaxMs, probeEveryMs: replicaProbeEveryMs }, app.log);
    reads = replica;
    const started = replica;
    app.addHook('onReady', async () => started.start());
    app.addHook('onClose', async () => {
      await started.stop();
      await replicaDb.close();
    });
  }
  const listenUrl = config.databaseDirectUrl ?? (config.dbPoolMode === 'session' ? config.databaseUrl : undefined);
  let productChanges: ProductChanges | undefined;
  if (listenUrl !== undefined) {
    const changes = new ProductChanges(listenUrl, config, products, primaryReads(db), app.log);
    productChanges = changes;
    app.addHook('onReady', async () => changes.start());
    app.addHook('onClose', async () => changes.stop());
  } else if (config.databaseUrl !== undefined) {
    app.log.warn('DB_POOL_MODE=transaction without DATABASE_DIRECT_URL: other instances see product changes only as the cache expires (1 s)');
  }
  return { reads, replica, productChanges };
}

export async function buildApp(config: Config, options: BuildOptions = {}): Promise<Api> {
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimitBytes,
    connectionTimeout: config.requestTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    // Longer than the idle timeout of the proxies and load balancers usually put in front (60 s), so the
    // proxy, not this process, closes an idle connection and never sends a request onto one being closed.
    keepAliveTimeout: 72_000,
    // Request ids: a client's x-request-id when it is 1–128 visible ASCII characters, else a fresh UUID.
    requestIdHeader: false,
    genReqId: requestIdOf,
    // Shutdown answers and closes connections itself (shutdown.ts), in the service's error shape.
    return503OnClosing: false,
    forceCloseConnections: false,
    routerOptions: { maxParamLength: 200 },
    clientErrorHandler,
    frameworkErrors,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as Api;

  app.setValidatorCompiler(makeValidators());
  app.setErrorHandler(handleError);
  installShutdownGate(app);
  installInputGuards(app);
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ code: 'NOT_FOUND', message: messages.notFound }));
  const metrics = config.metricsPort !== undefined;
  instrument(app, metrics);

  const ownsDb = options.db === undefined;
  const db = options.db ?? (await openDatabase(config, (error) => app.log.warn({ err: error }, 'idle database connection lost')));
  if (ownsDb) app.addHook('onClose', async () => db.close());
  await migrate(db);

  const auth = new Authenticator(config.jwtSecret);
  const products = new ProductCache(productFreshMs);
  await products.warm(db);
  const { reads, replica, productChanges } = catalogue(app, config, db, products);
  const journal = new PendingJournal(config.dataDir === ':memory:' ? undefined : join(config.dataDir, 'journal'));
  await journal.open();
  const recovery = new RecoveryWorker(db, journal, app.log, Math.max(50, Math.min(1_000, Math.floor(config.recoveryDeadlineMs / 10))));
  if (options.recovery !== false) app.addHook('onReady', async () => recovery.start());
  // Registered after the database's hook, so it runs first: stop recovery, then close the journal, then the database.
  app.addHook('onClose', async () => {
    await recovery.stop();
    await journal.close();
  });
  // Also after the database's hook: the relay and deliveries stop before the database closes.
  const events = setupEvents(app, db, config.events);
  const payments = makePaymentBatcher(db);
  // Orders wait in the payment batcher, not in the pool: both queues count as waiting for the database.
  const shedder = LoadShedder.fromConfig(config, () => db.stats().waiting + payments.waiting);
  shedder.start();
  app.addHook('onClose', async () => shedder.stop());
  if (metrics) {
    collectProcessMetrics();
    const unwatch = watch({ db: () => db.stats(), recovery: () => recovery.status() });
    app.addHook('onClose', async () => unwatch());
  }
  const now = options.now ?? (() => new Date());
  app.decorate('ctx', {
    config,
    db,
    auth,
    cursors: new CursorCodec(config.jwtSecret),
    products,
    payments,
    reads,
    popular: new PopularProducts(db, reads, now, app.log, {
      candidatesMax: 100,
      grownMax: 500,
      paymentDurationMaxMs: config.dbStatementTimeoutMs + 5_000,
    }),
    journal,
    recovery,
    events,
    requireAdmin: async (request: FastifyRequest) => {
      if (!request.principal.admin) throw forbidden();
    },
    now,
  } satisfies AppContext);
  app.decorateRequest('principal', null as unknown as Principal);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Commerce order & payment service', version: '0.1.0' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/ready', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await db.query('SELECT 1');
      return {
        status: 'ready',
        recovery: recovery.status(),
        ...(replica === undefined ? {} : { replica: replica.status() }),
        ...(productChanges === undefined ? {} : { productChanges: productChanges.status() }),
      };
    } catch {
      return reply.code(503).header('retry-after', '1').send({ code: 'SERVICE_UNAVAILABLE', message: messages.unavailable });
    }
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(adminConsole);

  await registerRateLimits(app, config);
  await app.register(
    async (api: Api) => {
      // Before authentication: a shed request costs no HMAC.
      api.addHook('onRequest', shedder.hook);
      // A callback hook: authentication is synchronous, and this runs on every request.
      api.addHook('onRequest', (request, _reply, done) => {
        try {
          request.principal = auth.authenticate(request.headers.authorization);
        } catch (error) {
          done(error as Error);
          return;
        }
        done();
      });
      await productRoutes(api);
      await pointRoutes(api);
      await couponRoutes(api);
      await orderRoutes(api);
      await webhookRoutes(api);
      await api.register(adminRoutes);
    },
    { prefix: '/api' },
  );
  return app;
}
