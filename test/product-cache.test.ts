/**
 * The product cache against a real database: reads that miss together share
 * one query, entries expire after `freshMs`, and a read that overlapped a
 * write through this process does not refill the entry with what it read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queryable } from '../src/db.js';
import { ProductCache } from '../src/products/cache.js';
import { primaryReads } from '../src/replica.js';
import { makeProduct } from './fixtures.js';
import { setupApp } from './helper.js';

const { db } = await setupApp();

/** Forwards to the real database, counting statements; `hold()` makes the next ones wait for `release()`. */
function counting(target: Queryable) {
  let gate: Promise<void> | undefined;
  let open = () => {};
  const counter = {
    queries: 0,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open();
    },
    get reads() {
      return reads;
    },
    db: {
      async query<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
        counter.queries++;
        if (gate !== undefined) await gate;
        return target.query<R>(text, params);
      },
    } satisfies Queryable,
  };
  const reads = primaryReads(counter.db);
  return counter;
}

describe('product cache', () => {
  it('answers misses at the same moment with one query, and unknown ids with undefined', async () => {
    const ids = [await makeProduct(db, 100, 1), await makeProduct(db, 200, 2), await makeProduct(db, 300, 3)];
    const counter = counting(db);
    const cache = new ProductCache(1_000);
    const products = await Promise.all([...ids, ids[0]!, 999_999_999].map((id) => cache.fresh(counter.reads, id)));
    assert.deepEqual(products.map((p) => p?.price), [100, 200, 300, 100, undefined]);
    // The first two misses go out at once (two reads in flight at most); the other three share the next query.
    assert.equal(counter.queries, 3);
    const before = counter.queries;
    await cache.fresh(counter.reads, ids[1]!);
    assert.equal(counter.queries, before, 'a fresh entry needs no query');
  });

  it('reads again once the entry is older than freshMs', async () => {
    const id = await makeProduct(db, 100, 1);
    let now = 1_000_000;
    const counter = counting(db);
    const cache = new ProductCache(1_000, () => now);
    await cache.fresh(counter.reads, id);
    now += 999;
    await cache.fresh(counter.reads, id);
    assert.equal(counter.queries, 1);
    now += 1;
    await cache.fresh(counter.reads, id);
    assert.equal(counter.queries, 2);
  });

  it('a read that overlapped a write does not refill the entry', async () => {
    const id = await makeProduct(db, 100, 5);
    const counter = counting(db);
    const cache = new ProductCache(60_000);
    await cache.fresh(counter.reads, id);
    cache.forget([id]);
    counter.hold();
    const overlapping = cache.fresh(counter.reads, id);
    await new Promise((resolve) => setImmediate(resolve));
    // The write lands while the read is in flight; the read may answer what it saw, but must not be kept.
    await db.query('UPDATE products SET stock = 4 WHERE id = $1', [id]);
    cache.forget([id]);
    counter.release();
    await overlapping;
    const queries = counter.queries;
    assert.equal((await cache.fresh(counter.reads, id))?.stock, 4);
    assert.equal(counter.queries, queries + 1, 'the entry was read again');
  });
});
