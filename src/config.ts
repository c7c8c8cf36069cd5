/**
 * The service's configuration, parsed once from the environment into a frozen
 * object. Nothing else in the code reads `process.env`.
 */
import { availableParallelism } from 'node:os';

export type Config = Readonly<{
  port: number;
  host: string;
  /** `postgres://…` selects PostgreSQL; undefined selects the embedded PGlite. */
  databaseUrl: string | undefined;
  dataDir: string;
  redisUrl: string | undefined;
  jwtSecret: string;
  jwtSecretIsDefault: boolean;
  recoveryDeadlineMs: number;
  pointsMaxBalance: number;
  logLevel: string;
  dbPoolSize: number;
  /** Client-side deadline of one database call; a blackholed connection fails after it. */
  dbQueryTimeoutMs: number;
  dbConnectTimeoutMs: number;
  /** Server-side limits, set on every PostgreSQL session. */
  dbStatementTimeoutMs: number;
  dbLockTimeoutMs: number;
  dbIdleInTransactionTimeoutMs: number;
  /**
   * How DATABASE_URL's server hands out connections: `session` (PostgreSQL
   * itself, or a pooler in session mode) or `transaction` (PgBouncer in
   * transaction pooling: no named statements, limits set per transaction).
   */
  dbPoolMode: 'session' | 'transaction';
  /** A streaming replica for catalogue reads; undefined reads everything from the primary. */
  databaseReplicaUrl: string | undefined;
  /** Catalogue reads leave the replica while it may be further behind the primary than this. */
  dbReplicaLagMaxMs: number;
  /** A connection of its own to the primary (never through a transaction pooler), for LISTEN. */
  databaseDirectUrl: string | undefined;
  bodyLimitBytes: number;
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  events: EventsConfig;
  /** Port of `GET /metrics` (Prometheus); undefined leaves metrics off. */
  metricsPort: number | undefined;
  /** Worker processes (node:cluster); always 1 on the embedded database. */
  workers: number;
  /** What `WORKERS` asked for, when the embedded database made it 1. */
  workersRefused: number | undefined;
  rateLimits: RateLimits;
  /** How long a request waits for the limiter's Redis before it passes unchecked (fail open). */
  rateLimitRedisTimeoutMs: number;
  /** New /api requests are shed (503) while the event loop lags more than this… */
  shedLoopDelayMs: number;
  /** …or while more than this many database calls wait for a connection. 0 turns either check off. */
  shedDbWaitingMax: number;
}>;

/** The outbox relay, the JetStream publisher and webhook delivery (src/events/). */
export type EventsConfig = Readonly<{
  /** `nats://…`: publish every event to JetStream; undefined publishes to no broker. */
  natsUrl: string | undefined;
  relayEnabled: boolean;
  outboxRetentionMs: number;
  outboxBatchMax: number;
  outboxPollMs: number;
  webhookRetryMinMs: number;
  webhookRetryMaxMs: number;
  webhookAttemptsMax: number;
  webhookTimeoutMs: number;
  /** Deliveries that failed every attempt, in a row, after which an endpoint is disabled. */
  webhookDisableAfterFailures: number;
  webhookConcurrencyMax: number;
  webhookAllowPrivate: boolean;
}>;

/** Requests per window for one user on one route class; null means no limit. */
export type RateLimit = Readonly<{ max: number; windowMs: number }> | null;
export type RateLimits = Readonly<{ orders: RateLimit; claims: RateLimit; charges: RateLimit }>;

export class ConfigError extends Error {}

const developmentSecret = 'development-secret-do-not-use-in-production-0000';

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  return raw === 'true';
}

function loadEventsConfig(env: NodeJS.ProcessEnv, production: boolean): EventsConfig {
  const natsUrl = optionalString(env, 'NATS_URL');
  if (natsUrl !== undefined && !/^(nats|tls):\/\/[^\s]+$/.test(natsUrl)) throw new ConfigError('NATS_URL must start with nats:// or tls://');
  const webhookRetryMinMs = integer(env, 'WEBHOOK_RETRY_MIN_MS', 5_000, 10, 3_600_000);
  return Object.freeze({
    natsUrl,
    relayEnabled: boolean(env, 'OUTBOX_RELAY_ENABLED', true),
    outboxRetentionMs: integer(env, 'OUTBOX_RETENTION_MS', 86_400_000, 1_000, 90 * 86_400_000),
    outboxBatchMax: integer(env, 'OUTBOX_BATCH_MAX', 256, 1, 10_000),
    outboxPollMs: integer(env, 'OUTBOX_POLL_MS', 250, 5, 60_000),
    webhookRetryMinMs,
    webhookRetryMaxMs: integer(env, 'WEBHOOK_RETRY_MAX_MS', Math.max(webhookRetryMinMs, 3_600_000), webhookRetryMinMs, 86_400_000),
    webhookAttemptsMax: integer(env, 'WEBHOOK_ATTEMPTS_MAX', 12, 1, 100),
    webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
    webhookDisableAfterFailures: integer(env, 'WEBHOOK_DISABLE_AFTER', 5, 1, 1_000_000),
    webhookConcurrencyMax: integer(env, 'WEBHOOK_CONCURRENCY_MAX', 16, 1, 1_000),
    webhookAllowPrivate: boolean(env, 'WEBHOOK_ALLOW_PRIVATE', !production),
  });
}

function optionalString(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

function postgresUrl(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const url = optionalString(env, name);
  if (url !== undefined && !/^postgres(ql)?:\/\//.test(url)) throw new ConfigError(`${name} must start with postgres:// or postgresql://`);
  return url;
}

function poolMode(env: NodeJS.ProcessEnv): 'session' | 'transaction' {
  const raw = optionalString(env, 'DB_POOL_MODE') ?? 'session';
  if (raw !== 'session' && raw !== 'transaction') throw new ConfigError(`DB_POOL_MODE must be session or transaction, got "${raw}"`);
  return raw;
}

const durationUnitsMs: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `20/1s`, `10/60s`, `100/500ms`, `5/1m`, or `off`. */
function rateLimit(env: NodeJS.ProcessEnv, name: string, fallback: string): RateLimit {
  const raw = optionalString(env, name) ?? fallback;
  if (raw === 'off') return null;
  const match = /^(\d{1,7})\/(\d{1,7})(ms|s|m|h)$/.exec(raw);
  if (match === null) throw new ConfigError(`${name} must look like 20/1s (requests/window, window in ms, s, m or h) or be off, got "${raw}"`);
  const max = Number(match[1]);
  const windowMs = Number(match[2]) * durationUnitsMs[match[3]!]!;
  if (max < 1 || windowMs < 100 || windowMs > 86_400_000) throw new ConfigError(`${name} needs at least 1 request in a window of 100 ms to 24 h, got "${raw}"`);
  return Object.freeze({ max, windowMs });
}

function workerCount(env: NodeJS.ProcessEnv, cores: number): number {
  const raw = optionalString(env, 'WORKERS');
  if (raw === 'auto') return Math.max(1, cores);
  return integer(env, 'WORKERS', 1, 1, 256);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): Config {
  const production = env.NODE_ENV === 'production';
  const jwtSecret = optionalString(env, 'JWT_SECRET');
  if (production && jwtSecret === undefined) throw new ConfigError('JWT_SECRET is required when NODE_ENV=production');
  if (jwtSecret !== undefined && jwtSecret.length < 16) throw new ConfigError('JWT_SECRET must be at least 16 characters');

  const databaseUrl = postgresUrl(env, 'DATABASE_URL');
  const databaseReplicaUrl = postgresUrl(env, 'DATABASE_REPLICA_URL');
  const databaseDirectUrl = postgresUrl(env, 'DATABASE_DIRECT_URL');
  if (databaseUrl === undefined && (databaseReplicaUrl ?? databaseDirectUrl) !== undefined) {
    throw new ConfigError('DATABASE_REPLICA_URL and DATABASE_DIRECT_URL need DATABASE_URL (the primary)');
  }
  const redisUrl = optionalString(env, 'REDIS_URL');
  if (redisUrl !== undefined && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError('REDIS_URL must start with redis:// or rediss://');
  }

  const metricsPortRaw = optionalString(env, 'METRICS_PORT');
  const metricsPort = metricsPortRaw === undefined ? undefined : integer(env, 'METRICS_PORT', 0, 0, 65_535);
  // The embedded database lives inside one process: a second process could not open it.
  const workersAsked = workerCount(env, cores);
  const workers = databaseUrl === undefined ? 1 : workersAsked;

  const dbQueryTimeoutMs = integer(env, 'DB_QUERY_TIMEOUT_MS', 5_000, 100, 600_000);
  return Object.freeze({
    port: integer(env, 'PORT', 3000, 0, 65_535),
    host: optionalString(env, 'HOST') ?? '127.0.0.1',
    databaseUrl,
    dataDir: optionalString(env, 'DATA_DIR') ?? './data',
    redisUrl,
    jwtSecret: jwtSecret ?? developmentSecret,
    jwtSecretIsDefault: jwtSecret === undefined,
    recoveryDeadlineMs: integer(env, 'RECOVERY_DEADLINE_MS', 60_000, 100, 86_400_000),
    pointsMaxBalance: integer(env, 'POINTS_MAX_BALANCE', 10_000_000, 1_000, 1_000_000_000_000),
    logLevel: optionalString(env, 'LOG_LEVEL') ?? 'info',
    dbPoolSize: integer(env, 'DB_POOL_SIZE', 8, 1, 200),
    dbQueryTimeoutMs,
    dbConnectTimeoutMs: integer(env, 'DB_CONNECT_TIMEOUT_MS', 2_000, 100, 60_000),
    // The server gives up a little before the client does, so a slow statement is
    // normally cancelled (a clean rollback) rather than abandoned mid-flight.
    dbStatementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', Math.max(50, dbQueryTimeoutMs - 1_000), 50, 600_000),
    dbLockTimeoutMs: integer(env, 'DB_LOCK_TIMEOUT_MS', 3_000, 10, 600_000),
    dbIdleInTransactionTimeoutMs: integer(env, 'DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', 10_000, 100, 600_000),
    dbPoolMode: poolMode(env),
    databaseReplicaUrl,
    dbReplicaLagMaxMs: integer(env, 'DB_REPLICA_LAG_MAX_MS', 500, 10, 600_000),
    databaseDirectUrl,
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 256 * 1024, 1_024, 16 * 1024 * 1024),
    requestTimeoutMs: integer(env, 'REQUEST_TIMEOUT_MS', 30_000, 1_000, 600_000),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    events: loadEventsConfig(env, production),
    metricsPort,
    workers,
    workersRefused: workers === workersAsked ? undefined : workersAsked,
    rateLimits: Object.freeze({
      orders: rateLimit(env, 'RATE_LIMIT_ORDERS', '20/1s'),
      claims: rateLimit(env, 'RATE_LIMIT_CLAIMS', '10/60s'),
      charges: rateLimit(env, 'RATE_LIMIT_CHARGES', '10/1s'),
    }),
    rateLimitRedisTimeoutMs: integer(env, 'RATE_LIMIT_REDIS_TIMEOUT_MS', 200, 10, 10_000),
    shedLoopDelayMs: integer(env, 'SHED_LOOP_DELAY_MS', 50, 0, 60_000),
    shedDbWaitingMax: integer(env, 'SHED_DB_WAITING_MAX', 256, 0, 100_000),
  });
}
