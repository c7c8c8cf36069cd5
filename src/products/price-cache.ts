/**
 * Product prices as this process last saw them, for pricing an order without
 * a database round trip. It may be stale (another instance may have changed
 * a price): the payment re-checks every price under lock and asks for a
 * recomputation when one differs, so a stale entry costs a retry, never money.
 * Products are never deleted, so an entry also proves the product exists.
 */
import type { Queryable } from '../db.js';
import { findProducts } from './queries.js';

const entriesMax = 200_000;

export class PriceCache {
  readonly #prices = new Map<number, number>();

  set(productId: number, price: number): void {
    if (this.#prices.size >= entriesMax && !this.#prices.has(productId)) this.#prices.clear();
    this.#prices.set(productId, price);
  }

  /**
   * Prices of these products, read from the database for those not cached (or
   * all of them with `refresh`); products that do not exist are absent.
   */
  async pricesOf(db: Queryable, productIds: readonly number[], refresh = false): Promise<Map<number, number>> {
    const missing = refresh ? productIds : productIds.filter((id) => !this.#prices.has(id));
    if (missing.length > 0) {
      for (const product of await findProducts(db, missing)) this.set(product.id, product.price);
    }
    const prices = new Map<number, number>();
    for (const id of productIds) {
      const price = this.#prices.get(id);
      if (price !== undefined) prices.set(id, price);
    }
    return prices;
  }
}
