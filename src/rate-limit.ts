/**
 * Per-user rate limits on the routes that write (`@fastify/rate-limit`): one
 * fixed window per user and route class. With `REDIS_URL` the counters live
 * in Redis (one atomic script per event-loop turn), shared by every instance;
 * without it, in this process's memory.
 *
 * A limiter must never stop payments: when Redis cannot answer within
 * `RATE_LIMIT_REDIS_TIMEOUT_MS`, or is not connected at all, the request passes,
 * a warning is logged (at most once per `storeErrorLogIntervalMs`) and
 * `rate_limit_store_errors_total` counts it.
 */
import { once } from 'node:events';
import rateLimit, { type FastifyRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import { Redis } from 'ioredis';
import type { Config, RateLimit } from './config.js';
import { withinDeadline } from './deadline.js';
import { AppError } from './errors.js';
import { countRateLimited, countRateLimitStoreError } from './metrics.js';

type RouteClass = 'orders' | 'claims' | 'charges';

/** The routes each limit applies to, by method and full path. */
const routeClasses: Readonly<Record<string, RouteClass>> = {
  'POST /api/orders': 'orders',
  'POST /api/coupons': 'claims',
  'POST /api/points/charge': 'charges',
};

const redisConnectTimeoutMs = 1_000;
/** ioredis drops a command this long after our own deadline passed, so that one Redis never answers leaves none behind. */
const redisCommandCleanupMs = 1_000;
const storeErrorLogIntervalMs = 10_000;

export const rateLimitedMessage = '요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.';

type StoreCallback = (error: Error | null, result?: { current: number; ttl: number }) => void;
/** What @fastify/rate-limit asks of a store. */
type Store = {
  incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void;
  child(routeOptions: { routeInfo: { method: string; url: string } }): Store;
};

/** Counts every key of a batch, atomically per key: INCR, and the window's expiry set by the first count. */
const incrementMany = `
local out = {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[i])
  local current = redis.call('INCR', key)
  local ttl = window
  if current == 1 then
    redis.call('PEXPIRE', key, window)
  else
    ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
  end
  out[#out + 1] = current
  out[#out + 1] = ttl
end
return out`;

/** Counts sent to Redis by one script call at most. */
const redisBatchMax = 256;

type RedisWithScript = Redis & {
  rateLimitMany(keyCount: number, ...keysThenWindows: Array<string | number>): Promise<number[]>;
};

/**
 * The counters in Redis, gathered per event-loop turn: the counts that
 * arrive in one turn go in one script call, which counts each key exactly
 * as one call per request would (the script runs atomically). One call per
 * request cost the service more CPU than a sold-out coupon claim itself.
 * Every key of a batch is touched by one script, so it needs a single Redis
 * (not a cluster), which is what `REDIS_URL` names.
 */
class BatchedRedisStore {
  readonly #waiting: Array<{ key: string; windowMs: number; callback: StoreCallback }> = [];
  #scheduled = false;

  constructor(
    readonly redis: RedisWithScript,
    /** How long a call may take before its requests pass unchecked. */
    readonly timeoutMs: number,
    /** Told of a failed call and how many requests it let pass unchecked. */
    readonly onError: (error: Error, requests: number) => void,
  ) {
    redis.defineCommand('rateLimitMany', { lua: incrementMany });
  }

  view(prefix: string): Store {
    return {
      incr: (key, callback, timeWindow) => this.#add(prefix + key, timeWindow, callback),
      child: (routeOptions) => this.view(`${prefix}${routeOptions.routeInfo.method}${routeOptions.routeInfo.url}:`),
    };
  }

  #add(key: string, windowMs: number, callback: StoreCallback): void {
    this.#waiting.push({ key, windowMs, callback });
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, redisBatchMax);
      const counted = this.redis.rateLimitMany(batch.length, ...batch.map((c) => c.key), ...batch.map((c) => c.windowMs));
      withinDeadline(counted, this.timeoutMs, 'Redis').then(
        (counts) => {
          for (const [i, c] of batch.entries()) c.callback(null, { current: counts[2 * i]!, ttl: counts[2 * i + 1]! });
        },
        (error: Error) => {
          this.onError(error, batch.length);
          for (const c of batch) c.callback(error);
        },
      );
    }
  }
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
      commandTimeout: config.rateLimitRedisTimeoutMs + redisCommandCleanupMs,
      connectTimeout: redisConnectTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    });
    const warn = throttledWarning(app.log);
    redis.on('error', (error: Error) => warn(error));
    const passUnchecked = (error: Error, requests: number) => {
      countRateLimitStoreError(requests);
      warn(error);
    };
    // Commands fail at once while disconnected, so requests served before the first connection would pass
    // unchecked: the app waits for it (at most the connect timeout; Redis down still fails open).
    app.addHook('onReady', async () => {
      if (redis.status !== 'ready') await once(redis, 'ready', { signal: AbortSignal.timeout(redisConnectTimeoutMs) }).catch(() => {});
    });
    app.addHook('onClose', async () => {
      redis.disconnect();
    });
    const store = new BatchedRedisStore(redis as RedisWithScript, config.rateLimitRedisTimeoutMs, passUnchecked).view('rate-limit:');
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
