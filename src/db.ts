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
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import pg from 'pg';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config.js';
import { observeDbCall } from './metrics.js';

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

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #statementNames = new Map<string, string>();
  readonly #guarded = new WeakSet<pg.PoolClient>();
  readonly #onClientError: (error: Error) => void;

  constructor(config: Config, onIdleError: (error: Error) => void) {
    this.#pool = new pg.Pool({
      connectionString: config.databaseUrl,
      max: config.dbPoolSize,
      connectionTimeoutMillis: config.dbConnectTimeoutMs,
      idleTimeoutMillis: 30_000,
      query_timeout: config.dbQueryTimeoutMs,
      statement_timeout: config.dbStatementTimeoutMs,
      lock_timeout: config.dbLockTimeoutMs,
      idle_in_transaction_session_timeout: config.dbIdleInTransactionTimeoutMs,
      keepAlive: true,
      application_name: 'commerce-order-service',
    });
    // An idle connection that dies must not take the process with it.
    this.#pool.on('error', onIdleError);
    this.#onClientError = onIdleError;
  }

  /** Prepared statements: each distinct text gets one name, parsed once per connection. */
  #named(text: string, values: readonly unknown[] | undefined): pg.QueryConfig {
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
      await this.#run(client, 'BEGIN');
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

/**
 * Runs calls one at a time, in arrival order, and lets the event loop take a
 * turn between two of them. PGlite runs inside this thread: its own queue
 * hands a finished call's turn to the next through promises alone, so a few
 * hundred queued calls ran back to back and held the loop (and `/health`,
 * and every socket) for their whole sum. Here a turn of the loop sits between
 * calls, so the longest the loop waits is one call, and `waiting` is a queue
 * that load shedding can read.
 */
class TurnQueue {
  readonly #waiting: Array<() => void> = [];
  #busy = false;

  get waiting(): number {
    return this.#waiting.length;
  }

  get busy(): boolean {
    return this.#busy;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        this.#busy = true;
        fn()
          .then(resolve, reject)
          .finally(() => setImmediate(() => this.#next()));
      };
      if (this.#busy) this.#waiting.push(start);
      else start();
    });
  }

  #next(): void {
    this.#busy = false;
    this.#waiting.shift()?.();
  }
}

class PgliteDatabase implements Database {
  readonly kind = 'pglite' as const;
  readonly #turns = new TurnQueue();
  constructor(readonly pglite: PGlite) {}

  query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#turns.run(() => timed('query', async () => (await this.pglite.query<R>(text, params as unknown[] | undefined)).rows));
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#turns.run(() =>
      timed('transaction', () =>
        this.pglite.transaction(async (inner) => {
          const tx: Tx = {
            inTransaction: true,
            query: async <R extends object>(text: string, params?: readonly unknown[]) =>
              (await inner.query<R>(text, params as unknown[] | undefined)).rows,
            exec: async (script) => {
              await inner.exec(script);
            },
          };
          return fn(tx);
        }),
      ),
    );
  }

  stats(): DbStats {
    return { inUse: this.#turns.busy ? 1 : 0, waiting: this.#turns.waiting };
  }

  async close(): Promise<void> {
    await this.#turns.run(() => this.pglite.close());
  }
}

const pgliteParsers = {
  [pgliteTypes.INT8]: (value: string) => Number(value),
};

export async function openDatabase(config: Config, onIdleError: (error: Error) => void): Promise<Database> {
  if (config.databaseUrl !== undefined) return new PostgresDatabase(config, onIdleError);
  let dataDir = 'memory://';
  if (config.dataDir !== ':memory:') {
    dataDir = join(config.dataDir, 'pglite');
    await mkdir(dataDir, { recursive: true });
  }
  const pglite = await PGlite.create({ dataDir, parsers: pgliteParsers });
  return new PgliteDatabase(pglite);
}
