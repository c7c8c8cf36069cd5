/**
 * The popular products as this process last computed them (SPEC §5: it may
 * lag paid and canceled orders by up to 5 seconds). Requests are answered
 * from memory; a request that finds the list older than `refreshMs` starts
 * one refresh in the background and is answered with the list it has. Only a
 * list older than `staleMs` (or none yet) makes the request wait, so the
 * answer never lags by more than that, and an idle process never queries.
 * Name, price and stock come with the list, so they are as fresh as it is.
 *
 * A refresh does not sum every product's buckets (10,000 products × 72
 * hours is too much for every second). A baseline, taken now and then, keeps
 * the `candidatesMax` leaders by an upper bound (their buckets from the
 * window's edge bucket on) and the bound `threshold` that every other
 * product stays under. A product's bound only grows through a payment, and
 * a payment that commits after the baseline was paid (its statement started)
 * at most `paymentDurationMaxMs` before it; so a refresh computes the exact
 * counts of the candidates and of the products of the orders paid since then,
 * and keeps that answer when its fifth product beats the threshold (nobody
 * else can then be above it).
 * Otherwise, and when the window moved back or the baseline is old, it takes
 * a new baseline or sums everything.
 *
 * A refresh reads one database throughout, the replica when it is usable
 * (src/replica.ts): the list is then as old as the replica's lag, and a
 * baseline taken there also misses the payments the replica had not yet
 * replayed, so its `soldSince` reaches back by that lag too. A baseline is
 * only used with the database it was taken on.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { Queryable } from '../db.js';
import type { CatalogueReads } from '../replica.js';
import { bucketOf, databaseNow, findProductsSoldSince, findSalesLeaders, findTopSellers, popularWindowMs } from './popular-queries.js';
import { pruneSales } from './queries.js';
import { popularCountMax, type PopularProduct } from './schemas.js';

// Every refresh costs a few queries in every instance; two seconds keeps that
// small while the list stays well within the 5 s the SPEC allows.
export const popularRefreshMs = 2_000;
export const popularStaleMs = 4_000;
const pruneEveryMs = 3_600_000;
/**
 * A baseline is retaken at least this often: the aggregate also changes
 * outside payments (a bulk load), and the candidates drift.
 */
const baselineAgeMaxMs = 60_000;
/** How much the replica's lag may grow between measuring it and taking a baseline there. */
const lagGrowthMaxMs = 1_000;

export type PopularLimits = Readonly<{
  candidatesMax: number;
  /** More grown products than this and a new baseline is cheaper than their exact counts. */
  grownMax: number;
  /**
   * Longer than a payment's statement may run: its orders are paid (now())
   * when it starts and visible when it commits. The statement timeout plus a
   * margin for the commit and the clock.
   */
  paymentDurationMaxMs: number;
}>;

type Baseline = {
  source: Queryable;
  takenAt: number;
  windowStart: number;
  /** Orders paid from then on may have committed after the baseline. */
  soldSince: Date;
  candidates: number[];
  /** Every product not in `candidates` sold at most this much in any window from `windowStart` on, but for recent growth. */
  threshold: number;
};

export class PopularProducts {
  #products: PopularProduct[] = [];
  /** The answer's body, serialized once per refresh rather than once per request. */
  #body = JSON.stringify({ products: [] });
  /** When the last refresh that succeeded started (monotonic ms); the list is as of then. */
  #asOf = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;
  #prunedAt = Number.NEGATIVE_INFINITY;
  #baseline: Baseline | undefined;

  constructor(
    /** The primary: pruning writes. */
    private readonly db: Queryable,
    private readonly reads: CatalogueReads,
    private readonly now: () => Date,
    private readonly log: FastifyBaseLogger,
    private readonly limits: PopularLimits,
  ) {}

  /** `{products}` as JSON, as old as the SPEC allows at most. */
  async body(): Promise<string> {
    await this.#fresh();
    return this.#body;
  }

  /** The JSON body when it may be answered right now (the usual case), else undefined: then wait for `body()`. */
  bodyNow(): string | undefined {
    return this.#usable() ? this.#body : undefined;
  }

  /** Whether the list may be answered as it is; starts a background refresh when one is due. */
  #usable(): boolean {
    const age = performance.now() - this.#asOf;
    if (age >= popularStaleMs) return false;
    if (age >= popularRefreshMs) this.#start().catch((error: unknown) => this.log.warn({ err: error }, 'popular products refresh failed'));
    return true;
  }

  async #fresh(): Promise<void> {
    // A refresh in flight started after the list was taken, so joining it keeps the bound.
    if (!this.#usable()) await this.#start();
  }

  /** Recomputes the list from a query that starts after this call; concurrent callers share it. */
  async refresh(): Promise<void> {
    while (this.#refreshing !== undefined) await this.#refreshing.catch(() => {});
    return this.#start();
  }

  #start(): Promise<void> {
    this.#refreshing ??= this.#load().finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #load(): Promise<void> {
    const startedAt = performance.now();
    const { value, lagMs } = await this.reads.read((db, lag) => this.#compute(db, lag, this.now()));
    this.#products = value;
    this.#body = JSON.stringify({ products: this.#products });
    this.#asOf = startedAt - lagMs;
    if (startedAt - this.#prunedAt >= pruneEveryMs) {
      this.#prunedAt = startedAt;
      pruneSales(this.db).catch((error: unknown) => this.log.warn({ err: error }, 'pruning old sales buckets failed'));
    }
  }

  async #compute(db: Queryable, lagMs: number, now: Date): Promise<PopularProduct[]> {
    const windowStart = now.getTime() - popularWindowMs;
    let baseline = this.#baseline;
    if (
      baseline === undefined ||
      baseline.source !== db ||
      windowStart < baseline.windowStart ||
      performance.now() - baseline.takenAt > baselineAgeMaxMs
    ) {
      baseline = await this.#takeBaseline(db, lagMs, windowStart);
    }
    let grown = await this.#grownSince(baseline);
    if (grown.length > this.limits.grownMax) {
      baseline = await this.#takeBaseline(db, lagMs, windowStart);
      grown = await this.#grownSince(baseline);
    }
    const products = await findTopSellers(db, now, [...new Set([...baseline.candidates, ...grown])]);
    const last = products[popularCountMax - 1];
    if (last !== undefined ? last.soldQuantity > baseline.threshold : baseline.threshold === 0) return products;
    this.#baseline = undefined;
    return findTopSellers(db, now);
  }

  async #takeBaseline(db: Queryable, lagMs: number, windowStart: number): Promise<Baseline> {
    // The clock first: a payment committing between the two reads is then seen as growth.
    const dbNow = await databaseNow(db);
    const { candidatesMax } = this.limits;
    const leaders = await findSalesLeaders(db, new Date(bucketOf(windowStart)), candidatesMax + 1);
    // On a replica, payments committed up to its lag ago may not have been replayed yet.
    const unseenMs = db === this.db ? 0 : lagMs + lagGrowthMaxMs;
    this.#baseline = {
      source: db,
      takenAt: performance.now(),
      windowStart,
      soldSince: new Date(dbNow.getTime() - this.limits.paymentDurationMaxMs - unseenMs),
      candidates: leaders.slice(0, candidatesMax).map((leader) => leader.productId),
      threshold: leaders[candidatesMax]?.bound ?? 0,
    };
    return this.#baseline;
  }

  /** Products whose sales may have grown since the baseline: only they may have passed the threshold. */
  #grownSince(baseline: Baseline): Promise<number[]> {
    return findProductsSoldSince(baseline.source, baseline.soldSince, this.limits.grownMax);
  }
}
