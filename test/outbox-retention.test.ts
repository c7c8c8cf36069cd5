/**
 * The outbox stays as large as its retention window: round after round of
 * events relayed and purged, the table reuses the space of the rows that
 * went. That needs a vacuum, which nothing runs on PGlite, or on PostgreSQL
 * with autovacuum off for the outbox (set here, so the test does not depend
 * on the server's setting): the relay runs it itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setupApp, testDb } from './helper.js';
import { waitFor } from './support/webhook-receiver.js';

const eventsPerRound = 3_000;
const rounds = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('outbox retention', () => {
  it('rounds of relayed and purged events reuse the space of the rows that went', async () => {
    const t = await setupApp({ OUTBOX_RETENTION_MS: '1000', OUTBOX_POLL_MS: '20' }, { ownDatabase: true });
    if (testDb === 'postgres') await t.db.query('ALTER TABLE outbox SET (autovacuum_enabled = false)');
    await t.app.ready();
    const count = async () => (await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox'))[0]!.n;
    const heapBytes = async () => Number((await t.db.query<{ b: string }>(`SELECT pg_relation_size('outbox') AS b`))[0]!.b);

    const sizes: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      await t.db.query(
        `INSERT INTO outbox (type, subject, data)
         SELECT 'points.charged', 'retention-' || g, json_build_object('userId', 'retention-' || g, 'amount', 1000, 'balance', g)
           FROM generate_series(1, $1::int) g`,
        [eventsPerRound],
      );
      sizes.push(await heapBytes());
      await waitFor(async () => (await count()) === 0, 60_000, `round ${round + 1}'s events to be relayed and purged`);
      // Time for the relay's vacuum, which follows the purge once enough rows went.
      await sleep(1_000);
    }
    // The heap as each round's events arrive. Without a vacuum every round adds its rows (inserted, then
    // relayed) to those of all rounds before: five rounds, five times the first.
    assert.ok(sizes.at(-1)! <= 2 * sizes[0]!, `outbox heap after each round: ${sizes.join(', ')} bytes`);
  });
});
