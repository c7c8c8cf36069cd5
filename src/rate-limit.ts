/**
 * Per-user rate limits on the routes that write (`@fastify/rate-limit`): one
 * fixed window per user and route class. With `REDIS_URL` the counters live
 * in Redis (one atomic script per request), shared by every instance;
 * without it, in this process's memory.
 *
 * A limiter must never stop payments: when Redis cannot answer within
 * `redisCommandTimeoutMs`, or is not connected at all, the request passes,
 * a warning is logged (at most once per `storeErrorLogIntervalMs`) and
 * `rate_limit_store_errors_total` counts it.
 */
import rateLimit, { type FastifyRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import type { Config, RateLimit } from './config.js';
import { AppError } from './errors.js';
import { countRateLimited, countRateLimitStoreError } from './metrics.js';

type RouteClass = 'orders' | 'claims' | 'charges';

/** The routes each limit applies to, by method and full path. */
const routeClasses: Readonly<Record<string, RouteClass>> = {
  'POST /api/orders': 'orders',
  'POST /api/coupons': 'claims',
  'POST /api/points/charge': 'charges',
};

/** A payment waits at most this long for the limiter's Redis before passing unchecked. */
const redisCommandTimeoutMs = 200;
const redisConnectTimeoutMs = 1_000;
const storeErrorLogIntervalMs = 10_000;

export const rateLimitedMessage = '요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.';

type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;
type Store = {
  incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void;
  child(routeOptions: unknown): Store;
};
type StoreClass = new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, nameSpace?: string) => Store;

const require = createRequire(import.meta.url);
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as StoreClass;

/** The plugin's Redis store, reporting every failure before the plugin lets the request through. */
function failOpenStore(inner: Store, onError: (error: Error) => void): Store {
  return {
    incr: (key, callback, timeWindow, max) =>
      inner.incr(key, (error, result) => {
        if (error !== null) onError(error);
        callback(error, result);
      }, timeWindow, max),
    child: (routeOptions) => failOpenStore(inner.child(routeOptions), onError),
  };
}

function throttledWarning(log: FastifyBaseLogger): (error: Error) => void {
  let lastLogMs = -Infinity;
  return (error) => {
    const nowMs = Date.now();
    if (nowMs - lastLogMs < storeErrorLogIntervalMs) return;
    lastLogMs = nowMs;
    log.warn({ err: error }, 'rate limiter cannot reach Redis: requests pass unlimited until it answers again');
  };
}

function routeLimit(limit: RateLimit, routeClass: RouteClass) {
  if (limit === null) return undefined;
  return { max: limit.max, timeWindow: limit.windowMs, onExceeded: () => countRateLimited(routeClass) };
}

/** Registers the limiter on `app` before any route exists; a Redis client it opens closes with the app. */
export async function registerRateLimits(app: FastifyInstance, config: Config): Promise<void> {
  const limits = config.rateLimits;
  if (limits.orders === null && limits.claims === null && limits.charges === null) return;

  // Runs before the plugin's own onRoute hook, which reads `config.rateLimit`.
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const routeClass = methods.map((method) => routeClasses[`${method} ${route.url}`]).find((found) => found !== undefined);
    if (routeClass === undefined) return;
    const limit = routeLimit(limits[routeClass], routeClass);
    if (limit !== undefined) route.config = { ...(route.config as object), rateLimit: limit };
  });

  const options: FastifyRateLimitOptions = {
    global: false,
    enableDraftSpec: true,
    // Every limited route is behind authentication, whose hook runs first.
    keyGenerator: (request: FastifyRequest) => request.principal.userId,
    errorResponseBuilder: () => new AppError('RATE_LIMITED', rateLimitedMessage),
  };
  if (config.redisUrl !== undefined) {
    const redis = new Redis(config.redisUrl, {
      // Fail at once while disconnected instead of queueing requests behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: redisCommandTimeoutMs,
      connectTimeout: redisConnectTimeoutMs,
      // Commands of one event-loop turn go out in one write.
      enableAutoPipelining: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    });
    const warn = throttledWarning(app.log);
    redis.on('error', (error: Error) => warn(error));
    const passUnchecked = (error: Error) => {
      countRateLimitStoreError();
      warn(error);
    };
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
    const store = failOpenStore(new RedisStore(false, false, redis, 'rate-limit:'), passUnchecked);
    Object.assign(options, {
      skipOnError: true,
      // The plugin builds its store with `new`; this one is already built.
      store: function SharedStore() {
        return store;
      },
    });
  }
  await app.register(rateLimit, options);
}
