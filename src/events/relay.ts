/**
 * The outbox relay, one per instance. Each step claims the next batch of
 * events in `sequence` order and creates their webhook deliveries (one short
 * transaction), then — with NATS — publishes them and moves the relay's
 * position past the acknowledged ones. Rows are never rewritten: the
 * position (migrations/016_relay_position.sql) says which are relayed. No
 * transaction is open while publishing; the batch is leased, so a batch of
 * an instance that died is claimed again by another once the lease runs out
 * (at-least-once: consumers dedupe on `id`).
 *
 * Every so often a step first purges what is past retention and, where no
 * autovacuum does it (PGlite, or PostgreSQL with autovacuum off), vacuums
 * the outbox, so the space of purged rows is used again and the table stays
 * as large as its retention window.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db.js';
import { toEventMessage, type OutboxRow } from './envelope.js';
import type { JetStreamPublisher } from './nats.js';
import { needsOwnVacuum } from '../housekeeping.js';
import { observeRelayLag } from '../metrics.js';
import { randomUUID } from 'node:crypto';
import { advance, claimEvents, purgeOutbox, vacuumOutbox, type Lease } from './queries.js';

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
  /** How long a batch's lease for publishing lasts; longer than a publish can take. */
  leaseMs: number;
  retentionMs: number;
  purgeEveryMs: number;
  purgeBatchMax: number;
  /** Called after a step that created webhook deliveries. */
  onFannedOut: () => void;
};

/** The relay lag of events relayed now, from their times (`outbox.created_at`). */
function observeLags(events: readonly OutboxRow[]): void {
  const nowMs = Date.now();
  for (const event of events) observeRelayLag((nowMs - Date.parse(event.time)) / 1000);
}

export class OutboxRelay {
  readonly stats: RelayStats = { relayed: 0, published: 0, duplicates: 0, publishFailures: 0, purged: 0, vacuums: 0 };
  readonly #db: Database;
  readonly #publisher: JetStreamPublisher | undefined;
  readonly #options: RelayOptions;
  readonly #log: FastifyBaseLogger;
  #lastPurge = 0;
  /** A lease this relay could not end (the database failed it); its next claim may take the position back. */
  #unfinished: Lease | undefined;
  /** Outbox rows this relay deleted since it last vacuumed. */
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
    const lease = publisher === undefined ? undefined : { token: randomUUID(), ms: this.#options.leaseMs, ownToken: this.#unfinished?.token };
    const claim = await this.#db.transaction((tx) => claimEvents(tx, this.#options.batchMax, lease));
    this.#unfinished = undefined;
    const { events } = claim;
    if (claim.fanned > 0) this.#options.onFannedOut();
    if (publisher === undefined || claim.lease === undefined) {
      this.stats.relayed += events.length;
      observeLags(events);
      return events.length === this.#options.batchMax;
    }
    let outcome;
    try {
      outcome = await publisher.publish(events.map(toEventMessage));
    } catch (error) {
      this.stats.publishFailures += events.length;
      await this.#advance(claim.lease, undefined);
      throw error;
    }
    // The position moves past the acknowledged events before the first that was not.
    const acknowledged = outcome.published.indexOf(false) === -1 ? events.length : outcome.published.indexOf(false);
    const published = events.filter((_event, i) => outcome.published[i]);
    observeLags(published);
    await this.#advance(claim.lease, acknowledged === 0 ? undefined : events[acknowledged - 1]!.sequence);
    this.stats.relayed += acknowledged;
    this.stats.published += published.length;
    this.stats.duplicates += outcome.duplicates;
    const failed = events.length - published.length;
    if (failed > 0) {
      this.stats.publishFailures += failed;
      throw new Error(`${failed} of ${events.length} events not acknowledged by JetStream`);
    }
    return events.length === this.#options.batchMax;
  }

  async #advance(lease: Lease, upto: number | undefined): Promise<void> {
    try {
      await advance(this.#db, lease, upto);
    } catch (error) {
      this.#unfinished = lease;
      throw error;
    }
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
