import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { Batcher, KeyedBatcher } from './batcher.js';

describe('KeyedBatcher', () => {
  it('starts batches at once up to inFlightMax, then gathers the rest, answering each item in order', async () => {
    const sizes: number[] = [];
    let inFlight = 0;
    let inFlightPeak = 0;
    const batcher = new KeyedBatcher<string, number, number>(
      async (_key, inputs) => {
        sizes.push(inputs.length);
        inFlightPeak = Math.max(inFlightPeak, ++inFlight);
        await tick();
        inFlight--;
        return inputs.map((n) => n * 10);
      },
      3,
      2,
    );
    const outputs = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit('k', i)));
    assert.deepEqual(outputs, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    assert.deepEqual(sizes, [1, 1, 3, 3, 2]);
    assert.equal(inFlightPeak, 2);
  });

  it('keeps keys apart, and a failed batch fails only its own items', async () => {
    const batcher = new KeyedBatcher<string, number, number>(async (key, inputs) => {
      await tick();
      if (key === 'bad') throw new Error('boom');
      return inputs;
    }, 10);
    const results = await Promise.allSettled([batcher.submit('bad', 1), batcher.submit('good', 2), batcher.submit('bad', 3)]);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected']);
    assert.equal(await batcher.submit('bad', 4).catch(() => 'rejected again'), 'rejected again');
    assert.equal(await batcher.submit('good', 5), 5);
  });

  it('refuses a batch that answers the wrong number of outputs', async () => {
    const batcher = new KeyedBatcher<string, number, number>(async () => [], 10);
    await assert.rejects(batcher.submit('k', 1), /answered 0 outputs/);
  });
});

describe('Batcher', () => {
  it('sends the next batch before it hands out the answers of the batch that came back', async () => {
    const seen: string[] = [];
    const batcher = new Batcher<number, number>(async (inputs) => {
      seen.push(`sent ${inputs.join(',')}`);
      await tick();
      return inputs;
    }, 10);
    const first = batcher.submit(1).then((n) => seen.push(`answered ${n}`));
    const rest = [batcher.submit(2), batcher.submit(3)].map((p) => p.then((n) => seen.push(`answered ${n}`)));
    await Promise.all([first, ...rest]);
    assert.deepEqual(seen, ['sent 1', 'sent 2,3', 'answered 1', 'answered 2', 'answered 3']);
  });
});
