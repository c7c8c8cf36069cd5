/**
 * Group commit of coupon claims (SPEC §6, §9.3): `claim_coupons` decides a
 * whole batch under the campaign's lock, and the claim batcher gathers the
 * concurrent claims of a process into batches without waiting on a timer.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { claimBatchSizeMax, makeClaimBatcher } from '../src/coupons/batcher.js';
import { claimCoupons, insertCampaign, type ClaimOutcome } from '../src/coupons/queries.js';
import { openDatabase, type Database, type Queryable } from '../src/db.js';
import { setupApp, testDb, uniqueUser } from './helper.js';

const { db, config } = await setupApp();

async function createCampaign(totalQuantity: number, validDays = 30) {
  return insertCampaign(db, { code: `BATCH-${randomUUID()}`, name: '묶음 쿠폰', discountType: 'FIXED', discountValue: 1_000, totalQuantity, validDays });
}

/** The counter and the rows, which must agree, and one row per user. */
async function holders(campaignId: number): Promise<string[]> {
  const rows = await db.query<{ user_id: string }>('SELECT user_id FROM coupons WHERE campaign_id = $1 ORDER BY id', [campaignId]);
  const [campaign] = await db.query<{ issued_quantity: number }>('SELECT issued_quantity FROM coupon_campaigns WHERE id = $1', [campaignId]);
  assert.equal(campaign!.issued_quantity, rows.length, 'the counter matches the rows');
  assert.equal(new Set(rows.map((row) => row.user_id)).size, rows.length, 'at most one coupon per user');
  return rows.map((row) => row.user_id);
}

const kinds = (outcomes: ClaimOutcome[]) => outcomes.map((outcome) => outcome.kind);

describe('claim_coupons: one batch, one statement', () => {
  it('a user named twice in a batch gets one coupon and hears "already" the second time', async () => {
    const campaign = await createCampaign(10, 7);
    const [a, b] = [uniqueUser('twice'), uniqueUser('once')];
    const now = new Date('2030-01-01T00:00:00.000Z');
    const outcomes = await claimCoupons(db, campaign.id, [a, b, a, a], now);
    assert.deepEqual(kinds(outcomes), ['issued', 'issued', 'alreadyIssued', 'alreadyIssued']);
    const first = outcomes[0] as Extract<ClaimOutcome, { kind: 'issued' }>;
    assert.equal(first.expiresAt.toISOString(), '2030-01-08T00:00:00.000Z');
    assert.deepEqual(await holders(campaign.id), [a, b]);
    // Holders from an earlier batch, twice over in a later one.
    assert.deepEqual(kinds(await claimCoupons(db, campaign.id, [b, b, a], now)), ['alreadyIssued', 'alreadyIssued', 'alreadyIssued']);
    assert.deepEqual(await holders(campaign.id), [a, b]);
  });

  it('a batch larger than the quota left is cut exactly, in the order of the batch', async () => {
    const campaign = await createCampaign(4);
    const users = Array.from({ length: 6 }, (_, i) => uniqueUser(`cut${i}`));
    const [u0, u1, u2, u3, u4, u5] = users as [string, string, string, string, string, string];
    assert.deepEqual(kinds(await claimCoupons(db, campaign.id, [u0], new Date())), ['issued']);
    // Three left: u1, u2 and u3 win; u0 already holds one; u1's repeat is "already";
    // u4 (twice) and u5 come too late and hold none, so they hear "sold out".
    const outcomes = await claimCoupons(db, campaign.id, [u1, u0, u2, u1, u3, u4, u5, u4], new Date());
    assert.deepEqual(kinds(outcomes), ['issued', 'alreadyIssued', 'issued', 'alreadyIssued', 'issued', 'soldOut', 'soldOut', 'soldOut']);
    assert.deepEqual(await holders(campaign.id), [u0, u1, u2, u3]);
    assert.deepEqual(kinds(await claimCoupons(db, campaign.id, [u5, u3], new Date())), ['soldOut', 'alreadyIssued']);
    assert.deepEqual(await holders(campaign.id), [u0, u1, u2, u3]);
  });
});

/** A database handle that records how many claims each statement carried. */
function recording(target: Queryable): { db: Queryable; sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    db: {
      query: (text, params) => {
        sizes.push((params![1] as string[]).length);
        return target.query(text, params);
      },
    },
  };
}

describe('the claim batcher', () => {
  it('sends the first claim at once and gathers the rest, up to the batch size, while it runs', async () => {
    const total = 2 * claimBatchSizeMax + 201;
    const campaign = await createCampaign(total - 100);
    const { db: counted, sizes } = recording(db);
    const batcher = makeClaimBatcher(counted);
    const users = Array.from({ length: total }, () => uniqueUser('gather'));
    const outcomes = await Promise.all(users.map((user) => batcher.submit(campaign.id, { userId: user, now: new Date() })));
    assert.deepEqual(sizes, [1, claimBatchSizeMax, claimBatchSizeMax, 200]);
    // Batches run one after another, so the quota goes in the order of the claims.
    assert.deepEqual(kinds(outcomes), [...Array(total - 100).fill('issued'), ...Array(100).fill('soldOut')]);
    assert.deepEqual(await holders(campaign.id), users.slice(0, total - 100));
    // Idle again: the next claim goes alone, at once.
    assert.equal((await batcher.submit(campaign.id, { userId: users[0]!, now: new Date() })).kind, 'alreadyIssued');
    assert.deepEqual(sizes.slice(4), [1]);
  });

  it('a failed statement fails every claim of its batch, and the next claim starts afresh', async () => {
    const campaign = await createCampaign(10);
    let failures = 1;
    const batcher = makeClaimBatcher({
      query: (text, params) => (failures-- > 0 ? Promise.reject(new Error('connection lost')) : db.query(text, params)),
    });
    const users = [uniqueUser('fail'), uniqueUser('fail')];
    const settled = await Promise.allSettled(users.map((user) => batcher.submit(campaign.id, { userId: user, now: new Date() })));
    assert.deepEqual(settled.map((result) => result.status), ['rejected', 'fulfilled']);
    assert.equal((await batcher.submit(campaign.id, { userId: users[0]!, now: new Date() })).kind, 'issued');
    assert.deepEqual(await holders(campaign.id), [users[1], users[0]]);
  });

  it('several instances batching at once on one database issue exactly the quota, one per user', async () => {
    // On PostgreSQL each instance has its own pool, as separate processes would.
    const instances: Database[] = testDb === 'postgres' ? await Promise.all([0, 1, 2].map(() => openDatabase(config, () => {}))) : [db, db, db];
    try {
      const quota = 300;
      const campaign = await createCampaign(quota);
      const users = Array.from({ length: 700 }, () => uniqueUser('multi'));
      const batchers = instances.map((instance) => makeClaimBatcher(instance));
      // Every user claims through two instances at once.
      const claims = users.flatMap((user, i) => [i % 3, (i + 1) % 3].map((n) => batchers[n]!.submit(campaign.id, { userId: user, now: new Date() })));
      const outcomes = await Promise.all(claims);
      const count = (kind: ClaimOutcome['kind']) => outcomes.filter((outcome) => outcome.kind === kind).length;
      assert.equal(count('issued'), quota);
      const holding = new Set(await holders(campaign.id));
      assert.equal(holding.size, quota);
      // A holder's other claim heard "already"; everyone else heard "sold out" twice.
      assert.equal(count('alreadyIssued'), quota);
      assert.equal(count('soldOut'), 2 * (users.length - quota));
    } finally {
      if (testDb === 'postgres') await Promise.all(instances.map((instance) => instance.close()));
    }
  });
});
