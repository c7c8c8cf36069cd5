/** The load helpers the concurrency tests lean on. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runParallel, tally } from './support/load.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('runParallel and tally', () => {
  it('returns results in index order and never exceeds the concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await runParallel(50, 7, async (i) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      // Later indexes finish first, so order cannot come from completion order.
      for (let t = 0; t < 50 - i; t++) await tick();
      inFlight -= 1;
      return i * 2;
    });
    assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i * 2));
    assert.equal(peak, 7);
  });

  it('handles zero calls and a concurrency above the count', async () => {
    assert.deepEqual(await runParallel(0, 4, async () => 1), []);
    assert.deepEqual(await runParallel(2, 100, async (i) => i), [0, 1]);
  });

  it('rejects with the first error only after started calls settle, and starts no more', async () => {
    let started = 0;
    let settled = 0;
    const run = runParallel(100, 4, async (i) => {
      started += 1;
      await tick();
      settled += 1;
      if (i === 5) throw new Error('boom 5');
      return i;
    });
    await assert.rejects(run, /boom 5/);
    assert.equal(settled, started);
    assert.ok(started < 100);
  });

  it('tallies values', () => {
    assert.deepEqual([...tally([200, 409, 200, 402, 200])].sort(), [[200, 3], [402, 1], [409, 1]]);
    assert.equal(tally([]).size, 0);
  });
});
