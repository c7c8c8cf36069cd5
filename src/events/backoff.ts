/**
 * When a failed delivery is tried again: exponential from the minimum, capped,
 * with jitter so that deliveries that failed together (an endpoint's outage)
 * do not all come back in the same instant.
 */
import assert from 'node:assert/strict';

/**
 * The wait after the `attempt`-th failed attempt (1-based): `min × 2^(attempt−1)`,
 * at most `max`, stretched by a random factor in [1, 1.5) and still at most `max`.
 */
export function retryDelayMs(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  assert.ok(Number.isInteger(attempt) && attempt >= 1);
  assert.ok(minMs > 0 && maxMs >= minMs);
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 40));
  const factor = 1 + 0.5 * random();
  assert.ok(factor >= 1 && factor < 1.5);
  return Math.min(maxMs, Math.round(base * factor));
}
