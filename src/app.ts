/**
 * Builds the Fastify application: configuration in, a ready app out. It does
 * not listen (server.ts does), so tests drive it through `inject()` or their
 * own port.
 *
 * It only composes: each feature folder is one plugin that builds what it
 * owns and registers its routes, and the shared services (the database, the
 * catalogue reads, authentication, cursors, load shedding) are plugins that
 * decorate the app. Fastify runs onClose hooks in reverse order of
 * registration, so the order below is also the shutdown order read
 * backwards: the gauges come off, events stop, recovery stops and its journal
 * closes, the product notifications and the replica stop, and the database
 * closes last.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { admin } from './admin/plugin.js';
import type { Api } from './api.js';
import { authentication } from './auth.js';
import type { Config } from './config.js';
import { core } from './core.js';
import { coupons } from './coupons/plugin.js';
import { database } from './db-plugin.js';
import { DbFailure, type Database } from './db.js';
import { AppError, messages } from './errors.js';
import { events } from './events/plugin.js';
import { clientErrorHandler, frameworkErrors, installInputGuards } from './input-guard.js';
import { gauges, instrument, requestIdOf } from './observability.js';
import { orders } from './orders/plugin.js';
import { pagination } from './pagination.js';
import { points } from './points/plugin.js';
import { products } from './products/plugin.js';
import { registerRateLimits } from './rate-limit.js';
import { readiness } from './readiness.js';
import { recovery } from './recovery/plugin.js';
import { catalogueReads } from './replica.js';
import { loadShedding } from './shedding.js';
import { installShutdownGate } from './shutdown.js';

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
    // Plugins open and migrate the database and warm the product cache, which takes as long as the database
    // does; one that does not answer fails on its own connect and statement deadlines, not on a plugin timer.
    pluginTimeout: 0,
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

  await app.register(core, { config, now: options.now ?? (() => new Date()) });
  // First, so that the database closes last.
  await app.register(database, { db: options.db });
  await app.register(catalogueReads);
  await app.register(authentication);
  await app.register(pagination);
  // Orders wait in the payment batcher, not in the pool: both queues count as waiting for the database.
  await app.register(loadShedding, { dbWaiting: () => app.db.stats().waiting + app.payments.waiting });
  // Both see every route through onRoute hooks, so they come before any route.
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Commerce order & payment service', version: '0.1.0' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await registerRateLimits(app, config);

  // Routes appear in the OpenAPI document, and so in the typed client, in this order.
  await app.register(products);
  await app.register(points);
  await app.register(coupons);
  await app.register(recovery, { start: options.recovery });
  await app.register(orders);
  await app.register(events);
  await app.register(admin);

  await app.register(readiness);
  if (metrics) await app.register(gauges);
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
