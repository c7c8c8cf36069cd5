/**
 * Products as this process last read them.
 *
 * - The payment prices orders itself, under lock. The only use of an old
 *   entry is `knownPriceOf`: the estimate a pending order shows when the
 *   payment's answer was lost (src/recovery/journal.ts).
 * - `GET /api/products/:id` serves an entry younger than `freshMs`, counted
 *   from when the read that filled it started. Writes through this process
 *   (admin edits, payments, cancels) refresh or drop the entry at once, and a
 *   read that overlapped such a write does not refill it; writes through
 *   another instance show within `freshMs`.
 * - Reads that miss at the same moment share one query: under load over a
 *   wide catalogue, entries keep expiring, and one round trip per miss would
 *   queue for the pool.
 * - A read from a replica is as old as the replica's lag: its entry counts
 *   its age (and the writes it may have missed) from that much earlier.
 * - Another instance's admin write arrives as a notification
 *   (src/products/changes.ts): the entry is read again from the primary.
 */
import { KeyedBatcher } from '../batcher.js';
import type { Queryable } from '../db.js';
import type { CatalogueReads } from '../replica.js';
import { cacheLookups } from '../metrics.js';
import { findProducts, listProducts } from './queries.js';
import type { Product } from './schemas.js';

const entriesMax = 200_000;
const warmEntriesMax = 100_000;
/** Ids per shared read, and shared reads in flight per database (well under the pool size). */
const loadBatchSizeMax = 200;
const loadsInFlightMax = 2;

type Entry = {
  product: Product;
  fetchedAtMs: number;
  /** The last write through this process; a read that started before it must not refill the entry. */
  writtenAtMs: number;
};

export class ProductCache {
  readonly #entries = new Map<number, Entry>();
  readonly #loads = new KeyedBatcher<CatalogueReads, number, Product | undefined>(
    (reads, ids) => this.#load(reads, ids),
    loadBatchSizeMax,
    loadsInFlightMax,
  );

  constructor(
    readonly freshMs: number,
    readonly nowMs: () => number = Date.now,
  ) {}

  /** The product as a write through this process left it. */
  remember(product: Product): void {
    const now = this.nowMs();
    this.#set(product, now, now);
  }

  #set(product: Product, fetchedAtMs: number, writtenAtMs: number): void {
    if (this.#entries.size >= entriesMax && !this.#entries.has(product.id)) this.#entries.clear();
    this.#entries.set(product.id, { product, fetchedAtMs, writtenAtMs });
  }

  async #load(reads: CatalogueReads, ids: number[]): Promise<Array<Product | undefined>> {
    const pickedAtMs = this.nowMs();
    const { value, lagMs } = await reads.read((db) => findProducts(db, [...new Set(ids)]));
    const startedAtMs = pickedAtMs - lagMs;
    const found = new Map(value.map((product) => [product.id, product]));
    for (const product of found.values()) {
      const entry = this.#entries.get(product.id);
      if (entry === undefined || entry.writtenAtMs < startedAtMs) this.#set(product, startedAtMs, entry?.writtenAtMs ?? -Infinity);
    }
    return ids.map((id) => found.get(id));
  }

  /** Loads the first `warmEntriesMax` products, so that a pending order's estimate rarely lacks a price. */
  async warm(db: Queryable): Promise<number> {
    const startedAtMs = this.nowMs();
    const products = await listProducts(db, 0, warmEntriesMax);
    for (const product of products) this.#set(product, startedAtMs, -Infinity);
    return products.length;
  }

  /** After a write that changed these products' stock: the next read goes to the database. */
  forget(productIds: Iterable<number>): void {
    const now = this.nowMs();
    for (const id of productIds) {
      const entry = this.#entries.get(id);
      if (entry !== undefined) {
        entry.fetchedAtMs = -Infinity;
        entry.writtenAtMs = now;
      }
    }
  }

  /** Every entry goes back to the database on its next read (the notifications may have missed writes). */
  forgetAll(): void {
    this.forget(this.#entries.keys());
  }

  /** The product as of at most `freshMs` ago, or `undefined` if it does not exist. */
  async fresh(reads: CatalogueReads, productId: number): Promise<Product | undefined> {
    const entry = this.#entries.get(productId);
    if (entry !== undefined && this.nowMs() - entry.fetchedAtMs < this.freshMs) {
      cacheLookups.product.hit++;
      return entry.product;
    }
    cacheLookups.product.miss++;
    return this.#loads.submit(reads, productId);
  }

  /** Reads these products again however fresh their entries are (another instance changed them). */
  async reload(reads: CatalogueReads, productIds: readonly number[]): Promise<void> {
    await Promise.all(productIds.map((id) => this.#loads.submit(reads, id)));
  }

  /** The last price this process saw for the product, however old; no I/O. */
  knownPriceOf(productId: number): number | undefined {
    return this.#entries.get(productId)?.product.price;
  }
}
