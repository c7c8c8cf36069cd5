/**
 * An outbox left by a release that marked rows (relayed_at, before
 * migrations/016_relay_position.sql): after the migration, the rows that
 * were relayed stay relayed, and the relay takes the others, once.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { openDatabase } from '../src/db.js';
import { OutboxRelay } from '../src/events/relay.js';
import { migrate } from '../src/migrate.js';
import { ownPostgresDatabase, testConfig, testDb } from './helper.js';

const own = testDb === 'postgres' ? await ownPostgresDatabase() : undefined;
const db = await openDatabase(testConfig(own === undefined ? {} : { DATABASE_URL: own.url }), () => {});
after(async () => {
  await db.close();
  await own?.drop();
});

describe('relay position after an upgrade', () => {
  it('keeps relayed rows relayed and relays the rest once', async () => {
    await migrate(db, '015_keyed_lookups.sql');
    const insert = `INSERT INTO outbox (type, subject, data, relayed_at)
                    SELECT 'points.charged', 'u' || n, json_build_object('userId', 'u' || n, 'amount', 1, 'balance', 1), CASE WHEN $1 THEN now() END
                      FROM generate_series(1, $2::int) AS n`;
    await db.query(insert, [true, 3]);
    await db.query(insert, [false, 5]);
    assert.deepEqual(await migrate(db), ['016_relay_position.sql']);

    const waiting = async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_unrelayed'))[0]!.n;
    assert.equal(await waiting(), 5);
    const relay = new OutboxRelay(
      db,
      undefined,
      { batchMax: 2, leaseMs: 15_000, retentionMs: 86_400_000, purgeEveryMs: 60_000, purgeBatchMax: 1_000, onFannedOut: () => {} },
      // Fastify's logger with logging off: the relay only logs at debug level here.
      Fastify({ logger: false }).log,
    );
    while (await relay.step()) {
      // Full batches of two: more may be waiting.
    }
    assert.equal(relay.stats.relayed, 5);
    assert.equal(await waiting(), 0);
    assert.equal(await relay.step(), false);
    assert.equal(relay.stats.relayed, 5, 'nothing is relayed twice');
  });
});
