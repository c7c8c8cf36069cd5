/**
 * The outbox relay, one per instance. Each step claims a bounded batch of
 * unrelayed events in `sequence` order and creates their webhook deliveries
 * (one short transaction), then — with NATS — publishes them and marks the
 * acknowledged ones relayed. No transaction is open while publishing; a
 * claim is a lease, so events of an instance that died are claimed again by
 * another once it runs out (at-least-once: consumers dedupe on `id`).
 *
 * Every so often a step first purges what is past retention and, where no
 * autovacuum does it (PGlite, or PostgreSQL with autovacuum off), vacuums
 * the outbox, so the space of relayed and purged rows is used again and the
 * table stays as large as its retention window.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db.js';
import { toEventMessage } from './envelope.js';
import type { JetStreamPublisher } from './nats.js';
import { needsOwnVacuum } from '../housekeeping.js';
import { observeRelayLag } from '../metrics.js';
import { claimEvents, markRelayed, purgeOutbox, releaseClaims, vacuumOutbox } from './queries.js';

const purgeRoundsMax = 10;
/**
 * A step vacuums before claiming once the rows rewritten or deleted since the
 * last vacuum reach this share of the table (autovacuum's default), and at
 * least `vacuumAfterRowsMin`: a vacuum reads every index whole, so vacuuming
 * after a fixed count would cost more per event the larger the table grows
 * (measured: throughput fell by half over a bench run of a million events).
 */
const vacuumScaleFactor = 0.2;
const vacuumAfterRowsMin = 1_000;

export type RelayStats = { relayed: number; published: number; duplicates: number; publishFailures: number; purged: number; vacuums: number };

export type RelayOptions = {
  batchMax: number;
  /** How long a claim for publishing lasts; longer than a publish can take. */
  leaseMs: number;
  retentionMs: number;
  purgeEveryMs: number;
  purgeBatchMax: number;
  /** Called after a step that created webhook deliveries. */
  onFannedOut: () => void;
};

/** The relay lag of events relayed now, from their times (`outbox.created_at`). */
function observeLags(times: ReadonlyArray<Date | string>): void {
  const nowMs = Date.now();
  for (const time of times) observeRelayLag((nowMs - new Date(time).getTime()) / 1000);
}

export class OutboxRelay {
  readonly stats: RelayStats = { relayed: 0, published: 0, duplicates: 0, publishFailures: 0, purged: 0, vacuums: 0 };
  readonly #db: Database;
  readonly #publisher: JetStreamPublisher | undefined;
  readonly #options: RelayOptions;
  readonly #log: FastifyBaseLogger;
  #lastPurge = 0;
  /** Outbox rows this relay rewrote (claimed, relayed) or deleted since it last vacuumed. */
  #rowsChanged = 0;
  /** The outbox's size at the last vacuum. */
  #tableRows = 0;

  constructor(db: Database, publisher: JetStreamPublisher | undefined, options: RelayOptions, log: FastifyBaseLogger) {
    this.#db = db;
    this.#publisher = publisher;
    this.#options = options;
    this.#log = log;
  }

  /** One batch; true when the batch was full, so that more may be waiting. */
  async step(): Promise<boolean> {
    await this.#maintain();
    const publisher = this.#publisher;
    const leaseMs = publisher === undefined ? undefined : this.#options.leaseMs;
    const { claimed, events, fanned, relayedTimes } = await this.#db.transaction((tx) => claimEvents(tx, this.#options.batchMax, leaseMs));
    if (fanned > 0) this.#options.onFannedOut();
    this.#rowsChanged += claimed;
    if (publisher === undefined || claimed === 0) {
      this.stats.relayed += claimed;
      observeLags(relayedTimes);
      return claimed === this.#options.batchMax;
    }
    let outcome;
    try {
      outcome = await publisher.publish(events.map(toEventMessage));
    } catch (error) {
      this.stats.publishFailures += events.length;
      await releaseClaims(this.#db, events.map((event) => event.sequence));
      throw error;
    }
    const done = events.filter((_event, i) => outcome.published[i]).map((event) => event.sequence);
    const failed = events.filter((_event, i) => !outcome.published[i]).map((event) => event.sequence);
    observeLags(events.filter((_event, i) => outcome.published[i]).map((event) => event.created_at));
    await markRelayed(this.#db, done);
    this.#rowsChanged += done.length;
    this.stats.relayed += done.length;
    this.stats.published += done.length;
    this.stats.duplicates += outcome.duplicates;
    if (failed.length > 0) {
      this.stats.publishFailures += failed.length;
      await releaseClaims(this.#db, failed);
      throw new Error(`${failed.length} of ${events.length} events not acknowledged by JetStream`);
    }
    return events.length === this.#options.batchMax;
  }

  async #maintain(): Promise<void> {
    const now = Date.now();
    const purgeDue = now - this.#lastPurge >= this.#options.purgeEveryMs;
    if (purgeDue) {
      this.#lastPurge = now;
      await this.#purge();
    }
    if (this.#rowsChanged >= Math.max(vacuumAfterRowsMin, vacuumScaleFactor * this.#tableRows)) {
      this.#rowsChanged = 0;
      if (await needsOwnVacuum(this.#db, 'outbox')) {
        this.#tableRows = await vacuumOutbox(this.#db);
        this.stats.vacuums += 1;
      }
    }
  }

  async #purge(): Promise<void> {
    // Bounded per step, so a large backlog of old rows cannot stall relaying.
    for (let round = 0; round < purgeRoundsMax; round += 1) {
      const purged = await purgeOutbox(this.#db, this.#options.retentionMs, this.#options.purgeBatchMax);
      this.stats.purged += purged;
      this.#rowsChanged += purged;
      if (purged < this.#options.purgeBatchMax) break;
    }
    this.#log.debug({ purged: this.stats.purged }, 'outbox purged');
  }
}
