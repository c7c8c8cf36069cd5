/**
 * First come, first served under real parallel HTTP (SPEC §6, §9.3): exactly
 * min(quota, distinct claimants) coupons, at most one per user, whatever the
 * interleaving, with several instances, and with a Redis that loses its data.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { bearer, call, httpCall, setupApp, testDb, uniqueUser, type TestApp } from './helper.js';

// A Redis logical database of its own, so FLUSHDB here touches nothing else.
const redisUrl = 'redis://127.0.0.1:6379/7';
const first = await setupApp();
// On PGlite the second instance must share the first one's database; on
// PostgreSQL it opens its own pool on the same database, as a real instance would.
const second = await setupApp({ REDIS_URL: redisUrl }, testDb === 'pglite' ? { db: first.db } : {});
const admin = await bearer(first.auth, 'admin-1', true);
const waveSize = 200;

type Claim = { userId: string; baseUrl: string };

async function createCampaign(totalQuantity: number): Promise<{ id: number; code: string }> {
  const body = { code: `BURST-${randomUUID()}`, name: '선착순 쿠폰', discountType: 'FIXED', discountValue: 1_000, totalQuantity };
  const response = await call(first.app, { method: 'POST', url: '/api/admin/coupons', headers: admin, body });
  assert.equal(response.status, 201);
  return response.body.coupon;
}

/** Sends the claims in waves of parallel requests; `during` runs alongside each wave. */
async function burst(code: string, claims: Claim[], during: (wave: number) => Promise<void> = async () => {}) {
  const tokens = new Map<string, Record<string, string>>();
  for (const { userId } of claims) if (!tokens.has(userId)) tokens.set(userId, await bearer(first.auth, userId));
  const statuses = new Map<number, number>();
  for (let start = 0, wave = 0; start < claims.length; start += waveSize, wave++) {
    const [responses] = await Promise.all([
      Promise.all(
        claims.slice(start, start + waveSize).map(({ userId, baseUrl }) =>
          httpCall(baseUrl, { method: 'POST', url: '/api/coupons', headers: tokens.get(userId)!, body: { couponCode: code } }),
        ),
      ),
      during(wave),
    ]);
    for (const { status } of responses) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  return Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
}

/** The truth, read from the data: the counter, the rows, and one row per user. */
async function issued(campaign: { id: number; code: string }) {
  const view = await call(first.app, { method: 'GET', url: `/api/admin/coupons/${campaign.code}`, headers: admin });
  const [row] = await first.db.query<{ rows: number; users: number }>(
    'SELECT count(*)::int AS rows, count(DISTINCT user_id)::int AS users FROM coupons WHERE campaign_id = $1',
    [campaign.id],
  );
  assert.equal(row!.rows, row!.users, 'at most one coupon per user');
  assert.equal(view.body.coupon.issuedQuantity, row!.rows, 'the counter matches the rows');
  return row!.rows;
}

function distinctUsers(n: number, baseUrl: (i: number) => string): Claim[] {
  return Array.from({ length: n }, (_, i) => ({ userId: uniqueUser('burst'), baseUrl: baseUrl(i) }));
}

function repeatedUsers(users: number, times: number, baseUrl: (i: number) => string): Claim[] {
  const ids = Array.from({ length: users }, () => uniqueUser('twice'));
  // Interleaved, so each user's claims are in flight at the same time.
  return Array.from({ length: users * times }, (_, i) => ({ userId: ids[i % users]!, baseUrl: baseUrl(i) }));
}

async function suite(label: string, app: TestApp) {
  describe(`coupon bursts over real HTTP (${label})`, () => {
    it('1,000 distinct users claim a quota of 100: exactly 100 issued, 900 sold out', async () => {
      const base = await app.url();
      const campaign = await createCampaign(100);
      assert.deepEqual(await burst(campaign.code, distinctUsers(1_000, () => base)), { 200: 100, 410: 900 });
      assert.equal(await issued(campaign), 100);
    });

    it('50 users each claim 5 times at once: 50 issued, 200 already issued', async () => {
      const base = await app.url();
      const campaign = await createCampaign(100);
      assert.deepEqual(await burst(campaign.code, repeatedUsers(50, 5, () => base)), { 200: 50, 409: 200 });
      assert.equal(await issued(campaign), 50);
    });

    it('repeat claimers past the quota hear 409, never 410, and never take quota', async () => {
      const base = await app.url();
      const campaign = await createCampaign(30);
      const result = await burst(campaign.code, repeatedUsers(60, 4, () => base));
      assert.equal(result[200], 30);
      assert.equal(result[409], 30 * 3);
      assert.equal(result[410], 30 * 4);
      assert.equal(await issued(campaign), 30);
    });
  });
}

await suite('one instance', first);
await suite('with REDIS_URL set', second);

describe('several instances and a Redis that forgets', () => {
  it('two instances claiming at once issue exactly the quota', async () => {
    const [a, b] = [await first.url(), await second.url()];
    const campaign = await createCampaign(150);
    const claims = [...distinctUsers(600, (i) => (i % 2 === 0 ? a : b)), ...repeatedUsers(50, 4, (i) => (i % 2 === 0 ? b : a))];
    const result = await burst(campaign.code, claims);
    assert.equal(result[200], 150);
    assert.equal((result[409] ?? 0) + (result[410] ?? 0), claims.length - 150);
    assert.equal(await issued(campaign), 150);
  });

  it('FLUSHDB in the middle of a burst still ends with exactly the quota', async () => {
    const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    try {
      const base = await second.url();
      const campaign = await createCampaign(100);
      const claims = [...distinctUsers(300, () => base), ...repeatedUsers(100, 3, () => base)];
      const flushes: number[] = [];
      const result = await burst(campaign.code, claims, async (wave) => {
        await redis.flushdb();
        flushes.push(wave);
      });
      assert.ok(flushes.length >= 2);
      assert.equal(result[200], 100);
      assert.equal(await issued(campaign), 100);
    } finally {
      redis.disconnect();
    }
  });
});
