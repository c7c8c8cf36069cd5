/**
 * One small interface over the two databases the service runs on: PostgreSQL
 * through a `pg` pool, or the embedded PGlite. Both speak the same SQL, so the
 * rest of the code never asks which one it has.
 *
 * Infrastructure failures are told apart here, because the order flow answers
 * differently for them (SPEC §7, §8):
 *  - `unavailable`: no statement reached the server (no connection could be
 *    had). Nothing happened; the caller may say 503.
 *  - `unknown`: a statement was sent and its answer was lost (connection cut,
 *    client-side deadline). It may or may not have committed.
 *  - `rolledBack`: the server refused or cancelled the statement (timeouts,
 *    deadlock, shutdown). Nothing committed.
 */
import pg from 'pg';
import { Worker } from 'node:worker_threads';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.js';
import { observeDbCall } from './metrics.js';
import type { ThreadError, ThreadReply, ThreadRequest } from './pglite-thread.js';

export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

/** A handle that is only valid inside `Database.transaction`. */
export interface Tx extends Queryable {
  readonly inTransaction: true;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export type DbStats = { inUse: number; waiting: number };

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Connections in use, and calls waiting for one: what load shedding and the gauges read. */
  stats(): DbStats;
  close(): Promise<void>;
}

/** Runs `fn` and records its duration; the histogram sits on a few microseconds of a call of milliseconds. */
async function timed<T>(call: 'query' | 'transaction', fn: () => Promise<T>): Promise<T> {
  const startedMs = performance.now();
  try {
    const result = await fn();
    observeDbCall(call, true, (performance.now() - startedMs) / 1000);
    return result;
  } catch (error) {
    observeDbCall(call, false, (performance.now() - startedMs) / 1000);
    throw error;
  }
}

export type DbFailureKind = 'unavailable' | 'unknown' | 'rolledBack';

export class DbFailure extends Error {
  constructor(
    readonly kind: DbFailureKind,
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

/** SQLSTATE classes after which the server has rolled the transaction back. */
const rolledBackStates = new Set(['57014', '55P03', '40P01', '40001', '25P03', '57P01', '57P02', '57P03', '53300']);

export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  if (sqlState(error) !== '23505') return false;
  return constraint === undefined || (error as { constraint?: string }).constraint === constraint;
}

/** Errors that are about the data (constraints, bad SQL) pass through unchanged. */
function classify(error: unknown, sent: boolean): unknown {
  if (error instanceof DbFailure) return error;
  const state = sqlState(error);
  if (state !== undefined) {
    if (rolledBackStates.has(state)) return new DbFailure('rolledBack', `database refused the statement (${state})`, error);
    if (state.startsWith('08')) return new DbFailure(sent ? 'unknown' : 'unavailable', 'database connection failed', error);
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DbFailure(sent ? 'unknown' : 'unavailable', `database unreachable: ${message}`, error);
}

function isConnectionBroken(error: unknown): boolean {
  return error instanceof DbFailure && error.kind !== 'rolledBack';
}

pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

/**
 * The server-side limits of a session, as PostgreSQL startup parameters or as
 * the `SET LOCAL`s that open a transaction. Behind a transaction pooler
 * (PgBouncer 1.18 refuses these startup parameters, and a plain `SET` would
 * leak into whoever gets the server connection next) only the second works.
 */
function sessionLimits(config: Config) {
  return {
    statement_timeout: config.dbStatementTimeoutMs,
    lock_timeout: config.dbLockTimeoutMs,
    idle_in_transaction_session_timeout: config.dbIdleInTransactionTimeoutMs,
  };
}

function beginStatement(config: Config): string {
  if (config.dbPoolMode === 'session') return 'BEGIN';
  const limits = Object.entries(sessionLimits(config)).map(([name, value]) => `SET LOCAL ${name} = ${Math.trunc(value)}`);
  return ['BEGIN', ...limits].join('; ');
}

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #statementNames = new Map<string, string>();
  readonly #guarded = new WeakSet<pg.PoolClient>();
  readonly #onClientError: (error: Error) => void;
  /** Named statements are prepared per server connection, which a transaction pooler swaps under us. */
  readonly #prepare: boolean;
  readonly #begin: string;

  constructor(url: string, config: Config, onIdleError: (error: Error) => void) {
    const session = config.dbPoolMode === 'session';
    this.#pool = new pg.Pool({
      connectionString: url,
      max: config.dbPoolSize,
      connectionTimeoutMillis: config.dbConnectTimeoutMs,
      idleTimeoutMillis: 30_000,
      query_timeout: config.dbQueryTimeoutMs,
      ...(session ? sessionLimits(config) : {}),
      keepAlive: true,
      application_name: 'commerce-order-service',
    });
    // An idle connection that dies must not take the process with it.
    this.#pool.on('error', onIdleError);
    this.#onClientError = onIdleError;
    this.#prepare = session;
    this.#begin = beginStatement(config);
  }

  /** Prepared statements: each distinct text gets one name, parsed once per connection. */
  #named(text: string, values: readonly unknown[] | undefined): pg.QueryConfig {
    if (!this.#prepare) return { text, values: values as unknown[] | undefined };
    let name = this.#statementNames.get(text);
    if (name === undefined) {
      name = `s${this.#statementNames.size}`;
      this.#statementNames.set(text, name);
    }
    return { name, text, values: values as unknown[] | undefined };
  }

  async #connect(): Promise<pg.PoolClient> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw classify(error, false);
    }
    // The pool listens for errors only on idle clients. A connection that dies
    // while checked out (between statements of a transaction, say) emits an
    // 'error' event that would otherwise crash the process; the next statement
    // on it fails and is handled there.
    if (!this.#guarded.has(client)) {
      client.on('error', this.#onClientError);
      this.#guarded.add(client);
    }
    return client;
  }

  async #run<R extends object>(client: pg.PoolClient, text: string, params?: readonly unknown[]): Promise<R[]> {
    try {
      const result = await client.query(this.#named(text, params));
      return result.rows as R[];
    } catch (error) {
      // pg refuses, without sending anything, a statement on a connection it already knows is dead.
      const unsent = error instanceof Error && /not queryable/.test(error.message);
      throw classify(error, !unsent);
    }
  }

  query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return timed('query', () => this.#query<R>(text, params));
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return timed('transaction', () => this.#transaction(fn));
  }

  stats(): DbStats {
    return { inUse: this.#pool.totalCount - this.#pool.idleCount, waiting: this.#pool.waitingCount };
  }

  async #query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
    const client = await this.#connect();
    try {
      const rows = await this.#run<R>(client, text, params);
      client.release();
      return rows;
    } catch (error) {
      client.release(isConnectionBroken(error) ? (error as Error) : undefined);
      throw error;
    }
  }

  async #transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.#connect();
    const tx: Tx = {
      inTransaction: true,
      query: (text, params) => this.#run(client, text, params),
      exec: async (script) => {
        try {
          await client.query(script);
        } catch (error) {
          throw classify(error, true);
        }
      },
    };
    try {
      // Behind a transaction pooler, one simple-protocol message: BEGIN and its SET LOCALs.
      await this.#run(client, this.#begin);
      const result = await fn(tx);
      await this.#run(client, 'COMMIT');
      client.release();
      return result;
    } catch (error) {
      if (isConnectionBroken(error)) {
        // The session is gone or in an unknown state: destroy it, never reuse it.
        client.release(error as Error);
        throw error;
      }
      try {
        await this.#run(client, 'ROLLBACK');
        client.release();
      } catch (rollbackError) {
        client.release(rollbackError as Error);
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/** A PostgreSQL error raised in the database's thread, with the fields callers read (`code`, `constraint`, …). */
class PgliteError extends Error {
  constructor(error: ThreadError) {
    super(error.message);
    Object.assign(this, error.fields);
  }
}

/**
 * PGlite in a thread of its own (pglite-thread.ts): its statements and its
 * disk flushes never hold this thread's event loop. Calls queue in the
 * thread in arrival order; `stats()` counts them here, for load shedding.
 */
class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #worker: Worker;
  readonly #replies = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  #nextId = 1;
  /** Top-level calls (statements and transactions) sent and not yet answered. */
  #inFlight = 0;
  #gone: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (message: ThreadReply) => {
      const waiter = this.#replies.get(message.id);
      if (waiter === undefined) return;
      this.#replies.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new PgliteError(message.error));
    });
    const fail = (error: Error) => {
      this.#gone = error;
      for (const waiter of this.#replies.values()) waiter.reject(new DbFailure('unknown', `embedded database thread stopped: ${error.message}`, error));
      this.#replies.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit ${code}`)));
  }

  static async open(dataDir: string): Promise<PgliteDatabase> {
    // From source (tests, tsx) the thread's entry is the .ts file beside this one, loaded through tsx.
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSource ? './pglite-thread.ts' : './pglite-thread.js', import.meta.url);
    const worker = fromSource
      ? new Worker(`import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`, { eval: true, workerData: { dataDir } })
      : new Worker(entry, { workerData: { dataDir } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (message: { ready: boolean; error?: ThreadError }) =>
        message.ready ? resolve() : reject(new PgliteError(message.error!)),
      );
      worker.once('error', reject);
    });
    return new PgliteDatabase(worker);
  }

  #call<T>(request: DistributiveOmit<ThreadRequest, 'id'>): Promise<T> {
    if (this.#gone !== undefined) return Promise.reject(new DbFailure('unavailable', `embedded database thread stopped: ${this.#gone.message}`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#replies.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  async #counted<T>(fn: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      return await fn();
    } finally {
      this.#inFlight--;
    }
  }

  query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#counted(() => timed('query', () => this.#call<R[]>({ op: 'query', text, params: params as unknown[] | undefined })));
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#counted(() =>
      timed('transaction', async () => {
        const txId = await this.#call<number>({ op: 'begin' });
        const tx: Tx = {
          inTransaction: true,
          query: <R extends object>(text: string, params?: readonly unknown[]) =>
            this.#call<R[]>({ op: 'txQuery', tx: txId, text, params: params as unknown[] | undefined }),
          exec: (script) => this.#call<void>({ op: 'txExec', tx: txId, script }),
        };
        let result: T;
        try {
          result = await fn(tx);
        } catch (error) {
          await this.#call({ op: 'end', tx: txId, commit: false }).catch(() => {});
          throw error;
        }
        await this.#call({ op: 'end', tx: txId, commit: true });
        return result;
      }),
    );
  }

  stats(): DbStats {
    return { inUse: this.#inFlight > 0 ? 1 : 0, waiting: Math.max(0, this.#inFlight - 1) };
  }

  async close(): Promise<void> {
    if (this.#gone === undefined) await this.#call({ op: 'close' });
    await this.#worker.terminate();
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export async function openDatabase(config: Config, onIdleError: (error: Error) => void): Promise<Database> {
  if (config.databaseUrl !== undefined) return new PostgresDatabase(config.databaseUrl, config, onIdleError);
  let dataDir = 'memory://';
  if (config.dataDir !== ':memory:') {
    dataDir = join(config.dataDir, 'pglite');
    await mkdir(dataDir, { recursive: true });
  }
  return PgliteDatabase.open(dataDir);
}

/** Another PostgreSQL server (a read replica) with the primary's settings. */
export function openPostgres(url: string, config: Config, onIdleError: (error: Error) => void): Database {
  return new PostgresDatabase(url, config, onIdleError);
}
