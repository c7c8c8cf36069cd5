/**
 * The recovery worker, one per instance (SPEC §8). Every tick it adopts the
 * journals of dead instances, records its journal's entries as pending rows,
 * and cancels pending orders with compensation. A tick that meets an
 * unreachable database simply ends; the next one tries again, so recovery
 * starts within one tick of the database coming back.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db.js';
import type { PendingJournal } from './journal.js';
import { cancelPending, countPendingOrders, findPendingOrders, recordPending } from './recover.js';

const sweepBatchMax = 100;
/**
 * While this instance holds orders the database does not know are in doubt,
 * it tries again this often: the database holds the fence (`pending`) at the
 * first moment it answers, and instances that do not share this DATA_DIR see
 * the order pending from then on. An unreachable database throttles the tries
 * by itself (each waits for its connect or query deadline).
 */
const fenceRetryMs = 50;

/** A tenth of the recovery deadline, so that several ticks fit in it, within 50 ms … 1 s. */
export function recoveryIntervalMs(recoveryDeadlineMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(recoveryDeadlineMs / 10)));
}

export type RecoveryStatus = { journalBacklog: number; pendingOrders: number; lastSweepAt: string | null; lastError: string | null };

export class RecoveryWorker {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #pendingOrders = 0;
  #lastSweepAt: Date | null = null;
  #lastError: string | null = null;
  /** Orders of other instances' journals this one has already recorded as pending. */
  #fencedForPeers = new Set<string>();

  constructor(
    readonly db: Database,
    readonly journal: PendingJournal,
    readonly log: FastifyBaseLogger,
    /** A fraction of the recovery deadline (`recoveryIntervalMs`). */
    readonly intervalMs: number,
  ) {}

  start(): void {
    const loop = () => {
      if (this.#stopped) return;
      this.#running = this.tick().finally(() => {
        this.#timer = setTimeout(loop, this.journal.unsettled().length > 0 ? fenceRetryMs : this.intervalMs);
        this.#timer.unref();
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  status(): RecoveryStatus {
    return {
      journalBacklog: this.journal.unsettled().length,
      pendingOrders: this.#pendingOrders,
      lastSweepAt: this.#lastSweepAt?.toISOString() ?? null,
      lastError: this.#lastError,
    };
  }

  /**
   * An instance sharing this DATA_DIR answered 202 for these orders and has
   * not recorded them yet (it may be cut off from the database). Recording
   * them here is the same idempotent step it would take, and the sweep below
   * then cancels them: the promise is kept without waiting for it. The entry
   * stays in its journal until it settles it itself.
   */
  async #fencePeers(): Promise<void> {
    const entries = this.journal.peerEntries();
    const current = new Set(entries.map((entry) => entry.orderId));
    for (const orderId of this.#fencedForPeers) if (!current.has(orderId)) this.#fencedForPeers.delete(orderId);
    for (const entry of entries) {
      if (this.#stopped || this.#fencedForPeers.has(entry.orderId)) continue;
      await recordPending(this.db, entry);
      this.#fencedForPeers.add(entry.orderId);
    }
  }

  /** One pass; never throws. */
  async tick(): Promise<void> {
    try {
      const adopted = await this.journal.adoptDead();
      if (adopted > 0) this.log.warn({ adopted }, 'adopted pending orders of a dead instance');
      for (const entry of this.journal.unsettled()) {
        if (this.#stopped) return;
        await recordPending(this.db, entry);
        await this.journal.settle(entry.orderId);
      }
      await this.#fencePeers();
      for (let batch = await findPendingOrders(this.db, sweepBatchMax); batch.length > 0; batch = await findPendingOrders(this.db, sweepBatchMax)) {
        let progressed = false;
        for (const orderId of batch) {
          if (this.#stopped) return;
          if (await cancelPending(this.db, orderId)) {
            progressed = true;
            this.log.warn({ orderId }, 'pending order canceled by recovery');
          }
        }
        if (!progressed) break;
      }
      this.#pendingOrders = await countPendingOrders(this.db);
      this.#lastSweepAt = new Date();
      this.#lastError = null;
    } catch (error) {
      this.#lastError = error instanceof Error ? error.message : String(error);
      this.log.debug({ err: error }, 'recovery tick failed; will retry');
    }
  }
}
