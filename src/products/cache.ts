/**
 * Products as this process last read them.
 *
 * - Pricing an order uses any cached price, however old: the payment re-checks
 *   every price under lock and asks for a recomputation when one differs, so a
 *   stale price costs a retry, never money. Products are never deleted, so an
 *   entry also proves the product exists.
 * - `GET /api/products/:id` serves an entry younger than `freshMs`. Writes
 *   through this process (admin edits, payments, cancels) refresh or drop the
 *   entry at once; writes through another instance show within `freshMs`.
 */
import type { Queryable } from '../db.js';
import { findProduct, findProducts, listProducts } from './queries.js';
import type { Product } from './schemas.js';

const entriesMax = 200_000;
const warmEntriesMax = 100_000;

type Entry = { product: Product; fetchedAtMs: number };

export class ProductCache {
  readonly #entries = new Map<number, Entry>();

  constructor(
    readonly freshMs: number,
    readonly nowMs: () => number = Date.now,
  ) {}

  remember(product: Product): void {
    if (this.#entries.size >= entriesMax && !this.#entries.has(product.id)) this.#entries.clear();
    this.#entries.set(product.id, { product, fetchedAtMs: this.nowMs() });
  }

  /** Loads the catalogue (its first `entriesMax` products) so that pricing an order rarely needs a read. */
  async warm(db: Queryable): Promise<number> {
    const products = await listProducts(db, 0, warmEntriesMax);
    for (const product of products) this.remember(product);
    return products.length;
  }

  /** After a write that changed these products' stock: the next read goes to the database. */
  forget(productIds: Iterable<number>): void {
    for (const id of productIds) {
      const entry = this.#entries.get(id);
      if (entry !== undefined) entry.fetchedAtMs = -Infinity;
    }
  }

  /** The product as of at most `freshMs` ago, or `undefined` if it does not exist. */
  async fresh(db: Queryable, productId: number): Promise<Product | undefined> {
    const entry = this.#entries.get(productId);
    if (entry !== undefined && this.nowMs() - entry.fetchedAtMs < this.freshMs) return entry.product;
    const product = await findProduct(db, productId);
    if (product !== undefined) this.remember(product);
    return product;
  }

  /**
   * Prices of these products, read from the database for those not cached (or
   * all of them with `refresh`); products that do not exist are absent.
   */
  async pricesOf(db: Queryable, productIds: readonly number[], refresh = false): Promise<Map<number, number>> {
    const missing = refresh ? productIds : productIds.filter((id) => !this.#entries.has(id));
    if (missing.length > 0) {
      for (const product of await findProducts(db, missing)) this.remember(product);
    }
    const prices = new Map<number, number>();
    for (const id of productIds) {
      const entry = this.#entries.get(id);
      if (entry !== undefined) prices.set(id, entry.product.price);
    }
    return prices;
  }
}
