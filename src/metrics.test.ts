/**
 * The gauges read from the database when Prometheus scrapes: a scrape never
 * waits longer than their bound, and a database that cannot answer leaves
 * them at their last values instead of failing the scrape or reading 0.
 * (test/metrics.test.ts reads them from a real service and database.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registry, watch, type EventsBacklog, type GaugeSource } from './metrics.js';

function sourceWith(backlog: () => Promise<EventsBacklog>): GaugeSource {
  return {
    db: () => ({ inUse: 0, waiting: 0 }),
    recovery: () => ({ journalBacklog: 0, pendingOrders: 0 }),
    events: {
      relay: { relayed: 0, publishFailures: 0, duplicates: 0, purged: 0 },
      deliveries: { delivered: 0, retried: 0, failed: 0 },
      backlog,
    },
  };
}

async function gauges(): Promise<{ unrelayed: number; stopped: number }> {
  const text = await registry.metrics();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
  return { unrelayed: value('outbox_unrelayed_events'), stopped: value('webhook_endpoints_stopped') };
}

describe('the events gauges', () => {
  it('read both figures with one query per scrape', async () => {
    let reads = 0;
    const unwatch = watch(sourceWith(async () => {
      reads += 1;
      return { unrelayed: 7, stopped: 1 };
    }));
    try {
      assert.deepEqual(await gauges(), { unrelayed: 7, stopped: 1 });
      assert.equal(reads, 1);
      assert.deepEqual(await gauges(), { unrelayed: 7, stopped: 1 });
      assert.equal(reads, 2, 'the next scrape reads again');
    } finally {
      unwatch();
    }
  });

  it('keep their last values when the database refuses or does not answer in time', async () => {
    let unwatch = watch(sourceWith(async () => ({ unrelayed: 12, stopped: 2 })));
    assert.deepEqual(await gauges(), { unrelayed: 12, stopped: 2 });
    unwatch();

    unwatch = watch(sourceWith(() => Promise.reject(new Error('database unreachable'))));
    try {
      assert.deepEqual(await gauges(), { unrelayed: 12, stopped: 2 });
    } finally {
      unwatch();
    }

    // A query that never ends: the scrape is answered at the bound (were it not, this would never resolve).
    unwatch = watch(sourceWith(() => new Promise<EventsBacklog>(() => {})));
    try {
      assert.deepEqual(await gauges(), { unrelayed: 12, stopped: 2 });
    } finally {
      unwatch();
    }
  });
});
