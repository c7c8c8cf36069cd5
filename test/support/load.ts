/**
 * Load helpers for the concurrency tests: many calls, a bounded number at a
 * time, and a count of the outcomes.
 */
import assert from 'node:assert/strict';

/**
 * Calls `fn(0) … fn(count - 1)` with at most `concurrency` in flight and
 * returns the results in index order. A rejection rejects the whole run after
 * the calls already started have settled, so none is left running behind it.
 */
export async function runParallel<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  assert.ok(Number.isInteger(count) && count >= 0, 'count must be a non-negative integer');
  assert.ok(Number.isInteger(concurrency) && concurrency >= 1, 'concurrency must be a positive integer');
  const results = new Array<T>(count);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < count && failure === undefined) {
      const i = next++;
      try {
        results[i] = await fn(i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  if (failure !== undefined) throw failure.error;
  return results;
}

/** How many times each value occurs, e.g. HTTP statuses → counts. */
export function tally<K>(values: Iterable<K>): Map<K, number> {
  const counts = new Map<K, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  return counts;
}
