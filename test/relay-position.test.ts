/**
 * The relay's position (migrations/016_relay_position.sql) against commits
 * out of `sequence` order: a transaction that wrote an event and stays open
 * while later events commit holds back only its own event, which is relayed
 * once it commits, though every event after it in `sequence` was relayed
 * long before. A transaction that rolls back is never relayed. Needs two
 * connections with transactions open at once: PostgreSQL only (PGlite has
 * one connection, so its commits cannot interleave).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { bearer, httpCall, setupApp, testDb, uniqueUser } from './helper.js';
import { ownNatsServer, readShopStream } from './support/nats-server.js';
import { waitFor } from './support/webhook-receiver.js';

const unrelayedSql = 'SELECT count(*)::int AS n FROM outbox_unrelayed';

if (testDb === 'postgres') {
  describe('relay position', () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('relays an event committed after later events, once; never one rolled back', async () => {
      const nats = await ownNatsServer(4235);
      cleanups.push(() => nats.stop());
      const t = await setupApp({ OUTBOX_POLL_MS: '20', NATS_URL: nats.url }, { ownDatabase: true });
      cleanups.push(() => t.app.close());
      const base = await t.url();
      const late = new pg.Client({ connectionString: t.config.databaseUrl });
      const aborted = new pg.Client({ connectionString: t.config.databaseUrl });
      for (const client of [late, aborted]) {
        // The test's database is dropped at the end, which cuts any connection still open.
        client.on('error', () => {});
        await client.connect();
        cleanups.push(() => client.end());
      }
      const insertEvent = `INSERT INTO outbox (type, subject, data)
                           VALUES ('points.charged', $1::text, json_build_object('userId', $1::text, 'amount', 1, 'balance', 1)) RETURNING sequence`;

      // Two events written first and left uncommitted.
      await late.query('BEGIN');
      const lateSequence = (await late.query(insertEvent, ['late-user'])).rows[0].sequence;
      await aborted.query('BEGIN');
      await aborted.query(insertEvent, ['aborted-user']);

      // Later events commit and are relayed meanwhile.
      const users = await Promise.all(Array.from({ length: 4 }, async () => ({ headers: await bearer(t.auth, uniqueUser('position')) })));
      for (let round = 0; round < 5; round += 1) {
        const answers = await Promise.all(users.map((user) => httpCall(base, { method: 'POST', url: '/api/points/charge', headers: user.headers, body: { amount: 1_000 } })));
        assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200, 200]);
      }
      await waitFor(async () => (await readShopStream(nats.url)).length === 20, 20_000, 'the committed charges on the stream');
      assert.equal((await t.db.query<{ n: number }>(unrelayedSql))[0]!.n, 0, 'uncommitted events are not counted as waiting');
      const before = await readShopStream(nats.url);
      assert.ok(before.every((message) => BigInt(message.event.sequence) > BigInt(lateSequence)), 'every relayed event came after the open ones in sequence');

      await aborted.query('ROLLBACK');
      await late.query('COMMIT');
      await waitFor(async () => (await readShopStream(nats.url)).length === 21, 20_000, 'the late event on the stream');
      // A few more steps of the relay: nothing else arrives.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const messages = await readShopStream(nats.url);
      assert.equal(messages.length, 21);
      assert.equal(messages.at(-1)!.event.subject, 'late-user');
      assert.equal(messages.at(-1)!.event.sequence, String(lateSequence));
      assert.equal(messages.filter((message) => message.event.subject === 'aborted-user').length, 0);
      assert.equal(new Set(messages.map((message) => message.event.id)).size, 21);
      assert.equal((await t.db.query<{ n: number }>(unrelayedSql))[0]!.n, 0);
      assert.equal(t.app.events.relay.stats.duplicates, 0);
    });
  });
}
