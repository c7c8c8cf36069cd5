/**
 * The popular products as this process last computed them (SPEC §5: it may
 * lag paid and canceled orders by up to 5 seconds). Requests are answered
 * from memory; a request that finds the list older than `refreshMs` starts
 * one refresh in the background and is answered with the list it has. Only a
 * list older than `staleMs` (or none yet) makes the request wait, so the
 * answer never lags by more than that, and an idle process never queries.
 * Name, price and stock come with the list, so they are as fresh as it is.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyBaseLogger } from 'fastify';
import type { Queryable } from '../db.js';
import { findTopSellers, pruneSales, type PopularProduct } from './sales.js';

export const popularRefreshMs = 1_000;
export const popularStaleMs = 4_000;
const pruneEveryMs = 3_600_000;

export class PopularProducts {
  #products: PopularProduct[] = [];
  /** When the last refresh that succeeded started (monotonic ms); the list is as of then. */
  #asOf = Number.NEGATIVE_INFINITY;
  #refreshing: Promise<void> | undefined;
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** The list (never mutated: a refresh replaces it). */
  async list(): Promise<PopularProduct[]> {
    const age = performance.now() - this.#asOf;
    if (age >= popularStaleMs) await this.refresh();
    else if (age >= popularRefreshMs) this.#start().catch((error: unknown) => this.log.warn({ err: error }, 'popular products refresh failed'));
    return this.#products;
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
    this.#products = await findTopSellers(this.db, this.now());
    this.#asOf = startedAt;
    if (startedAt - this.#prunedAt >= pruneEveryMs) {
      this.#prunedAt = startedAt;
      pruneSales(this.db).catch((error: unknown) => this.log.warn({ err: error }, 'pruning old sales buckets failed'));
    }
  }
}
