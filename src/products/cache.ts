/**
 * Products as this process last read them.
 *
 * - Pricing an order uses any cached price, however old: the payment re-checks
 *   every price under lock and asks for a recomputation when one differs, so a
 *   stale price costs a retry, never money. Products are never deleted, so an
 *   entry also proves the product exists.
 * - `GET /api/products/:id` serves an entry younger than `freshMs`, counted
 *   from when the read that filled it started. Writes through this process
 *   (admin edits, payments, cancels) refresh or drop the entry at once, and a
 *   read that overlapped such a write does not refill it; writes through
 *   another instance show within `freshMs`.
 * - Reads that miss at the same moment share one query: under load over a
 *   wide catalogue, entries keep expiring, and one round trip per miss would
 *   queue for the pool.
 */
import { KeyedBatcher } from '../batcher.js';
import type { Queryable } from '../db.js';
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
  readonly #loads = new KeyedBatcher<Queryable, number, Product | undefined>(
    (db, ids) => this.#load(db, ids),
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

  async #load(db: Queryable, ids: number[]): Promise<Array<Product | undefined>> {
    const startedAtMs = this.nowMs();
    const found = new Map((await findProducts(db, [...new Set(ids)])).map((product) => [product.id, product]));
    for (const product of found.values()) {
      const entry = this.#entries.get(product.id);
      if (entry === undefined || entry.writtenAtMs < startedAtMs) this.#set(product, startedAtMs, entry?.writtenAtMs ?? -Infinity);
    }
    return ids.map((id) => found.get(id));
  }

  /** Loads the catalogue (its first `entriesMax` products) so that pricing an order rarely needs a read. */
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

  /** The product as of at most `freshMs` ago, or `undefined` if it does not exist. */
  async fresh(db: Queryable, productId: number): Promise<Product | undefined> {
    const entry = this.#entries.get(productId);
    if (entry !== undefined && this.nowMs() - entry.fetchedAtMs < this.freshMs) {
      cacheLookups.product.hit++;
      return entry.product;
    }
    cacheLookups.product.miss++;
    return this.#loads.submit(db, productId);
  }

  /**
   * Prices of these products, read from the database for those not cached (or
   * all of them with `refresh`); products that do not exist are absent.
   */
  async pricesOf(db: Queryable, productIds: readonly number[], refresh = false): Promise<Map<number, number>> {
    const missing = refresh ? productIds : productIds.filter((id) => !this.#entries.has(id));
    cacheLookups.price.hit += productIds.length - missing.length;
    cacheLookups.price.miss += missing.length;
    const loaded = missing.length > 0 ? await this.#load(db, [...missing]) : [];
    const prices = new Map<number, number>();
    for (const product of loaded) if (product !== undefined) prices.set(product.id, product.price);
    for (const id of productIds) {
      const entry = this.#entries.get(id);
      if (entry !== undefined && !prices.has(id)) prices.set(id, entry.product.price);
    }
    return prices;
  }
}
