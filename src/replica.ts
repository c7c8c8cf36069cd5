/**
 * Where catalogue reads go: product lists, product-detail misses and the
 * popular refresh may read a streaming replica (DATABASE_REPLICA_URL);
 * payments, charges, claims, cancels, recovery and anything read-then-written
 * never do — they use the primary `Database` directly and never see this.
 *
 * Every read says how far behind the primary its data may be (`lagMs`), so a
 * cache filled from the replica counts its age from then, not from the read.
 *
 * The lag is measured, not trusted from the replica: every `probeEveryMs`
 * the primary's WAL position is sampled, then the replica's replayed
 * position read. The replica then holds everything the primary had at the
 * newest sample it has replayed, so `now − that sample's time` bounds its
 * lag from above — also when replication has silently stopped, and without
 * false lag while the primary is idle. Reads leave the replica while that
 * bound passes `lagMaxMs`, while the replica does not answer, or after a
 * read on it failed (until the next probe succeeds); a failed read is run
 * again on the primary, since reads change nothing.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import type { Api } from './api.js';
import { DbFailure, openPostgres, type Database, type Queryable } from './db.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Catalogue reads: the replica when there is a usable one, else the primary. Never for payments or writes. */
    reads: CatalogueReads;
    /** The replica, when DATABASE_REPLICA_URL names one (its status shows on /ready). */
    replica: ReplicaReads | undefined;
  }
}

const replicaProbeEveryMs = 100;

export type ReadResult<T> = { value: T; lagMs: number };

export interface CatalogueReads {
  /** Runs `fn` on the replica when it is usable, else on the primary; `lagMs` is 0 on the primary. */
  read<T>(fn: (db: Queryable, lagMs: number) => Promise<T>): Promise<ReadResult<T>>;
}

/** Reads that always go to the primary: nothing they see is behind. */
export function primaryReads(db: Queryable): CatalogueReads {
  return { read: async (fn) => ({ value: await fn(db, 0), lagMs: 0 }) };
}

export type ReplicaStatus = {
  reading: 'replica' | 'primary';
  /** Upper bound of how far behind the primary the replica is; null before the first measurement. */
  lagMs: number | null;
  lagMaxMs: number;
  /** Why reads are on the primary, when they are. */
  reason?: string;
};

export type ReplicaLimits = Readonly<{ lagMaxMs: number; probeEveryMs: number }>;

type Sample = { atMs: number; lsn: bigint };

/** Samples older than the bound plus this are of no use: a replica that far behind is not read. */
const sampleKeepExtraMs = 5_000;

/** `16/B374D848` as one number. */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text);
  if (match === null) throw new Error(`not a WAL position: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export class ReplicaReads implements CatalogueReads {
  readonly #samples: Sample[] = [];
  /** The replica holds everything the primary had at this moment (monotonic ms). */
  #caughtUpAtMs = Number.NEGATIVE_INFINITY;
  #unusable: string | undefined = 'not measured yet';
  #timer: NodeJS.Timeout | undefined;
  #probing: Promise<void> | undefined;

  constructor(
    private readonly primary: Database,
    private readonly replica: Database,
    private readonly limits: ReplicaLimits,
    private readonly log: FastifyBaseLogger,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  lagMs(): number {
    return this.nowMs() - this.#caughtUpAtMs;
  }

  status(): ReplicaStatus {
    const lagMs = Number.isFinite(this.#caughtUpAtMs) ? Math.round(this.lagMs()) : null;
    const reason = this.#reasonToAvoid();
    return { reading: reason === undefined ? 'replica' : 'primary', lagMs, lagMaxMs: this.limits.lagMaxMs, ...(reason === undefined ? {} : { reason }) };
  }

  #reasonToAvoid(): string | undefined {
    if (this.#unusable !== undefined) return this.#unusable;
    if (this.lagMs() > this.limits.lagMaxMs) return 'lagging';
    return undefined;
  }

  async read<T>(fn: (db: Queryable, lagMs: number) => Promise<T>): Promise<ReadResult<T>> {
    if (this.#reasonToAvoid() === undefined) {
      const lagMs = this.lagMs();
      try {
        return { value: await fn(this.replica, lagMs), lagMs };
      } catch (error) {
        if (!(error instanceof DbFailure)) throw error;
        this.#avoid('a read failed', error);
      }
    }
    return { value: await fn(this.primary, 0), lagMs: 0 };
  }

  #avoid(reason: string, error?: unknown): void {
    if (this.#unusable === undefined) this.log.warn({ err: error, reason }, 'catalogue reads moved to the primary');
    this.#unusable = reason;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    void this.probe();
    this.#timer = setInterval(() => {
      if (this.#probing === undefined) void this.probe();
    }, this.limits.probeEveryMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#probing;
  }

  /** One measurement; concurrent callers share it. */
  probe(): Promise<void> {
    this.#probing ??= this.#measure().finally(() => {
      this.#probing = undefined;
    });
    return this.#probing;
  }

  async #measure(): Promise<void> {
    const atMs = this.nowMs();
    try {
      const [row] = await this.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
      this.#samples.push({ atMs, lsn: parseLsn(row!.lsn) });
    } catch {
      // No sample: the bound keeps growing, and reads go to the primary once it passes lagMaxMs.
    }
    while (this.#samples.length > 1 && this.#samples[0]!.atMs < atMs - this.limits.lagMaxMs - sampleKeepExtraMs) this.#samples.shift();
    let replayed: bigint;
    try {
      const [row] = await this.replica.query<{ recovering: boolean; lsn: string | null }>(
        'SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS lsn',
      );
      if (!row!.recovering || row!.lsn === null) {
        this.#avoid('not a standby');
        return;
      }
      replayed = parseLsn(row!.lsn);
    } catch (error) {
      this.#avoid('unreachable', error);
      return;
    }
    for (let i = this.#samples.length - 1; i >= 0; i--) {
      const sample = this.#samples[i]!;
      if (sample.lsn <= replayed) {
        this.#caughtUpAtMs = Math.max(this.#caughtUpAtMs, sample.atMs);
        break;
      }
    }
    if (this.#unusable !== undefined) this.log.info({ lagMs: Math.round(this.lagMs()) }, 'catalogue reads on the replica');
    this.#unusable = undefined;
  }
}

/** `reads` and `replica`: the replica when one is configured, probed from when the app is ready until it closes. */
export const catalogueReads = fp(
  async (app: Api) => {
    const { config, db } = app;
    if (config.databaseReplicaUrl === undefined) {
      app.decorate('reads', primaryReads(db));
      app.decorate('replica', undefined);
      return;
    }
    const onIdleError = (error: Error) => app.log.warn({ err: error }, 'idle replica connection lost');
    const replicaDb = openPostgres(config.databaseReplicaUrl, config, onIdleError);
    const replica = new ReplicaReads(db, replicaDb, { lagMaxMs: config.dbReplicaLagMaxMs, probeEveryMs: replicaProbeEveryMs }, app.log);
    app.addHook('onReady', async () => replica.start());
    app.addHook('onClose', async () => {
      await replica.stop();
      await replicaDb.close();
    });
    app.decorate('reads', replica);
    app.decorate('replica', replica);
  },
  { name: 'catalogue-reads', dependencies: ['database'] },
);
