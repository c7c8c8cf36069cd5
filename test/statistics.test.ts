/**
 * Where no autovacuum runs (PGlite; on PostgreSQL, a table with
 * autovacuum_enabled = false, set here so the test does not depend on the
 * server), the service analyses a table once it has doubled: the plans of
 * the payment's PL/pgSQL statements are made again from true sizes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setupApp, testDb } from './helper.js';
import { waitFor } from './support/webhook-receiver.js';

describe('statistics', () => {
  it('a table that grew is analysed, and analysed again after it doubled', async () => {
    const t = await setupApp({}, { ownDatabase: true });
    if (testDb === 'postgres') await t.db.query('ALTER TABLE wallets SET (autovacuum_enabled = false)');
    await t.app.ready();
    const estimate = async () => (await t.db.query<{ n: number }>(`SELECT reltuples::float8 AS n FROM pg_class WHERE oid = 'wallets'::regclass`))[0]!.n;
    // Empty wallets: a balance without its ledger entry would break SPEC §9's balance = ledger sum.
    const grow = (from: number, to: number) =>
      t.db.query(`INSERT INTO wallets (user_id, balance) SELECT 'statistics-' || g, 0 FROM generate_series($1::int, $2::int) g`, [from, to]);

    await grow(1, 5_000);
    await waitFor(async () => (await estimate()) >= 4_000, 30_000, 'the grown table to be analysed');
    assert.ok((await estimate()) <= 6_000, `estimate ${await estimate()} for 5,000 rows`);
    await grow(5_001, 20_000);
    await waitFor(async () => (await estimate()) >= 16_000, 30_000, 'the doubled table to be analysed again');
  });
});
