import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { refundPoints } from '../src/points/service.js';
import { bearer, call, httpCall, isError, setupApp, uniqueUser, type TestApp } from './helper.js';

const main = await setupApp();
// A small limit makes the balance rule reachable in a few charges.
const small = await setupApp({ POINTS_MAX_BALANCE: '50000' });
const touched = new Set<string>();

async function newUser(prefix = 'wallet') {
  const userId = uniqueUser(prefix);
  touched.add(userId);
  return { userId, headers: await bearer(main.auth, userId) };
}

type User = Awaited<ReturnType<typeof newUser>>;

function charge(t: TestApp, user: User, body: unknown, key?: string) {
  const headers = key === undefined ? user.headers : { ...user.headers, 'idempotency-key': key };
  return call(t.app, { method: 'POST', url: '/api/points/charge', headers, body });
}

/** Balance and ledger size straight from the database. */
async function stored(t: TestApp, userId: string): Promise<{ balance: number | null; entries: number }> {
  const [row] = await t.db.query<{ balance: number | null; entries: number }>(
    `SELECT (SELECT balance FROM wallets WHERE user_id = $1) AS balance,
            (SELECT count(*)::int FROM point_ledger WHERE user_id = $1) AS entries`,
    [userId],
  );
  return row!;
}

async function chargeOk(t: TestApp, user: User, amount: number): Promise<number> {
  const response = await charge(t, user, { amount });
  assert.equal(response.status, 200, JSON.stringify(response.body));
  return response.body.newBalance;
}

describe('charge and balance (SPEC §4, seed 1-1)', () => {
  it('charges, answers the new balance, and reads it back', async () => {
    const user = await newUser();
    const first = await charge(main, user, { amount: 10_000 });
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, { userId: user.userId, newBalance: 10_000 });
    assert.equal(await chargeOk(main, user, 10_000), 20_000);
    const read = await call(main.app, { method: 'GET', url: '/api/points', headers: user.headers });
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { userId: user.userId, balance: 20_000 });
    assert.deepEqual(await stored(main, user.userId), { balance: 20_000, entries: 2 });
  });

  it('a user never seen has balance 0 and an empty history', async () => {
    const user = await newUser();
    const read = await call(main.app, { method: 'GET', url: '/api/points', headers: user.headers });
    assert.deepEqual(read.body, { userId: user.userId, balance: 0 });
    const history = await call(main.app, { method: 'GET', url: '/api/points/history', headers: user.headers });
    assert.deepEqual(history.body, { entries: [], nextCursor: null });
  });

  it('accepts the boundaries 1,000 and 100,000', async () => {
    const user = await newUser();
    assert.equal(await chargeOk(main, user, 1_000), 1_000);
    assert.equal(await chargeOk(main, user, 100_000), 101_000);
  });

  it('needs a token', async () => {
    const response = await call(main.app, { method: 'POST', url: '/api/points/charge', body: { amount: 1_000 } });
    assert.equal(response.status, 401);
    assert.ok(isError(response.body, 'UNAUTHORIZED'));
  });
});

describe('charge rules, in order (seed 1-2)', () => {
  const cases: [number, string][] = [
    [1_005, 'CHARGE_UNIT'],
    [123, 'CHARGE_UNIT'],
    [5, 'CHARGE_UNIT'], // also below the minimum: the unit rule comes first
    [100_005, 'CHARGE_UNIT'], // also above the maximum
    [-1_005, 'CHARGE_UNIT'],
    [990, 'CHARGE_BELOW_MINIMUM'],
    [0, 'CHARGE_BELOW_MINIMUM'],
    [-1_000, 'CHARGE_BELOW_MINIMUM'],
    [100_010, 'CHARGE_ABOVE_MAXIMUM'],
    [200_000, 'CHARGE_ABOVE_MAXIMUM'],
    [1_000_000_000_000, 'CHARGE_ABOVE_MAXIMUM'],
  ];
  for (const [amount, code] of cases) {
    it(`${amount} → 400 ${code}, nothing changed`, async () => {
      const user = await newUser();
      await chargeOk(main, user, 5_000);
      const response = await charge(main, user, { amount });
      assert.equal(response.status, 400);
      assert.ok(isError(response.body, code), JSON.stringify(response.body));
      assert.equal(response.body.message, '유효하지 않은 충전 금액입니다.');
      assert.deepEqual(await stored(main, user.userId), { balance: 5_000, entries: 1 });
    });
  }

  it('BALANCE_LIMIT_EXCEEDED past POINTS_MAX_BALANCE; exactly the limit is allowed', async () => {
    const user = await newUser();
    assert.equal(await chargeOk(small, user, 40_000), 40_000);
    const over = await charge(small, user, { amount: 10_010 });
    assert.equal(over.status, 400);
    assert.ok(isError(over.body, 'BALANCE_LIMIT_EXCEEDED'));
    assert.equal(over.body.message, '유효하지 않은 충전 금액입니다.');
    assert.deepEqual(await stored(small, user.userId), { balance: 40_000, entries: 1 });
    assert.equal(await chargeOk(small, user, 10_000), 50_000);
    const full = await charge(small, user, { amount: 1_000 });
    assert.ok(isError(full.body, 'BALANCE_LIMIT_EXCEEDED'));
    // The per-charge rules are checked before the limit.
    const both = await charge(small, user, { amount: 100_010 });
    assert.ok(isError(both.body, 'CHARGE_ABOVE_MAXIMUM'));
    assert.deepEqual(await stored(small, user.userId), { balance: 50_000, entries: 2 });
  });

  it('a first charge above the limit creates no wallet', async () => {
    const user = await newUser();
    const response = await charge(small, user, { amount: 60_000 });
    assert.ok(isError(response.body, 'BALANCE_LIMIT_EXCEEDED'));
    assert.deepEqual(await stored(small, user.userId), { balance: null, entries: 0 });
  });
});

describe('malformed charges are 400 VALIDATION_ERROR and change nothing', () => {
  const bodies: unknown[] = [
    {},
    { amount: '1000' },
    { amount: 1000.5 },
    { amount: null },
    { amount: true },
    { amount: [1000] },
    { amount: 1e20 },
    { amount: -1e20 },
    { amount: 1000, extra: 1 },
    { Amount: 1000 },
    [],
    'null',
    '{"amount": 1000',
    '"1000"',
  ];
  for (const body of bodies) {
    it(JSON.stringify(body), async () => {
      const user = await newUser();
      await chargeOk(main, user, 2_000);
      const response = await charge(main, user, body);
      assert.equal(response.status, 400);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'), JSON.stringify(response.body));
      assert.deepEqual(await stored(main, user.userId), { balance: 2_000, entries: 1 });
    });
  }

  it('a non-JSON content type, an empty or over-long key', async () => {
    const user = await newUser();
    const text = await call(main.app, {
      method: 'POST',
      url: '/api/points/charge',
      headers: { ...user.headers, 'content-type': 'text/plain' },
      body: 'amount=1000',
    });
    assert.equal(text.status, 400);
    for (const key of ['', 'k'.repeat(256)]) {
      const response = await charge(main, user, { amount: 1_000 }, key);
      assert.equal(response.status, 400, `key of ${key.length}`);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'));
    }
    assert.deepEqual(await stored(main, user.userId), { balance: null, entries: 0 });
    assert.equal((await charge(main, user, { amount: 1_000 }, 'k'.repeat(255))).status, 200);
  });
});

describe('Idempotency-Key on charges', () => {
  it('a repeated key changes nothing and is 409 DUPLICATE_REQUEST, whatever the amount', async () => {
    const user = await newUser();
    const key = randomUUID();
    assert.equal((await charge(main, user, { amount: 3_000 }, key)).status, 200);
    for (const amount of [3_000, 7_000]) {
      const again = await charge(main, user, { amount }, key);
      assert.equal(again.status, 409);
      assert.ok(isError(again.body, 'DUPLICATE_REQUEST'));
      assert.equal(again.body.message, '중복 요청입니다.');
    }
    assert.deepEqual(await stored(main, user.userId), { balance: 3_000, entries: 1 });
    // Charges without a key, or with another key, are independent.
    assert.equal(await chargeOk(main, user, 1_000), 4_000);
    assert.equal((await charge(main, user, { amount: 1_000 }, randomUUID())).status, 200);
  });

  it('a refused charge leaves its key free', async () => {
    const user = await newUser();
    const key = randomUUID();
    assert.ok(isError((await charge(main, user, { amount: 123 }, key)).body, 'CHARGE_UNIT'));
    assert.ok(isError((await charge(main, user, { amount: '1000' }, key)).body, 'VALIDATION_ERROR'));
    const limited = await newUser();
    await chargeOk(small, limited, 50_000);
    assert.ok(isError((await charge(small, limited, { amount: 1_000 }, key)).body, 'BALANCE_LIMIT_EXCEEDED'));
    assert.equal((await charge(main, user, { amount: 1_000 }, key)).status, 200);
    assert.equal((await charge(main, user, { amount: 1_000 }, key)).status, 409);
  });

  it('keys are per user', async () => {
    const [a, b] = [await newUser(), await newUser()];
    const key = randomUUID();
    assert.equal((await charge(main, a, { amount: 1_000 }, key)).status, 200);
    assert.equal((await charge(main, b, { amount: 2_000 }, key)).status, 200);
    assert.deepEqual(await stored(main, b.userId), { balance: 2_000, entries: 1 });
  });

  it('a repeat of a successful key is 409 even when the wallet is now full', async () => {
    const user = await newUser();
    const key = randomUUID();
    assert.equal((await charge(small, user, { amount: 50_000 }, key)).status, 200);
    const again = await charge(small, user, { amount: 50_000 }, key);
    assert.equal(again.status, 409);
    assert.ok(isError(again.body, 'DUPLICATE_REQUEST'));
  });
});

describe('history (SPEC §4)', () => {
  async function page(user: User, query: string) {
    const response = await call(main.app, { method: 'GET', url: `/api/points/history${query}`, headers: user.headers });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body as { entries: any[]; nextCursor: string | null };
  }

  it('newest first, in pages, each entry in the documented shape', async () => {
    const user = await newUser();
    const other = await newUser();
    await chargeOk(main, other, 1_000);
    for (let i = 1; i <= 25; i++) await chargeOk(main, user, i * 1_000);
    const first = await page(user, '');
    assert.equal(first.entries.length, 20);
    const entries = [...first.entries];
    let cursor = first.nextCursor;
    while (cursor !== null) {
      const next = await page(user, `?limit=10&cursor=${encodeURIComponent(cursor)}`);
      entries.push(...next.entries);
      cursor = next.nextCursor;
    }
    assert.equal(entries.length, 25);
    assert.deepEqual(entries.map((entry) => entry.amount), Array.from({ length: 25 }, (_, i) => (25 - i) * 1_000));
    const ids = entries.map((entry) => entry.id);
    assert.deepEqual(ids, [...ids].sort((x, y) => y - x));
    const newest = entries[0];
    assert.deepEqual(Object.keys(newest).sort(), ['amount', 'balanceAfter', 'createdAt', 'id', 'orderId', 'type']);
    assert.equal(newest.type, 'CHARGE');
    assert.equal(newest.balanceAfter, (25 * 26 * 1_000) / 2);
    assert.equal(newest.orderId, null);
    assert.equal(new Date(newest.createdAt).toISOString(), newest.createdAt);
  });

  it('the last page ends with a null cursor; an exact fit has no empty extra page', async () => {
    const user = await newUser();
    for (let i = 0; i < 4; i++) await chargeOk(main, user, 1_000);
    const first = await page(user, '?limit=2');
    assert.equal(first.entries.length, 2);
    const second = await page(user, `?limit=2&cursor=${encodeURIComponent(first.nextCursor!)}`);
    assert.equal(second.entries.length, 2);
    assert.equal(second.nextCursor, null);
  });

  it('400 for a bad limit or a cursor the service did not issue', async () => {
    const user = await newUser();
    for (const query of ['?limit=0', '?limit=101', '?limit=abc', '?cursor=forged', '?cursor=abc.def', '?other=1']) {
      const response = await call(main.app, { method: 'GET', url: `/api/points/history${query}`, headers: user.headers });
      assert.equal(response.status, 400, query);
      assert.ok(isError(response.body, 'VALIDATION_ERROR'));
    }
  });
});

describe('concurrent charges over real HTTP (SPEC §9.1)', () => {
  function parallel(base: string, user: User, n: number, amount: number, key?: string) {
    const headers = key === undefined ? user.headers : { ...user.headers, 'idempotency-key': key };
    return Promise.all(
      Array.from({ length: n }, () => httpCall(base, { method: 'POST', url: '/api/points/charge', headers, body: { amount } })),
    );
  }

  it('50 parallel charges by one new user all land, each with its own balance', async () => {
    const user = await newUser('burst');
    const responses = await parallel(await main.url(), user, 50, 1_000);
    assert.deepEqual(responses.map((r) => r.status), Array(50).fill(200));
    const balances = responses.map((r) => r.body.newBalance as number).sort((x, y) => x - y);
    assert.deepEqual(balances, Array.from({ length: 50 }, (_, i) => (i + 1) * 1_000));
    assert.deepEqual(await stored(main, user.userId), { balance: 50_000, entries: 50 });
  });

  it('charges that together pass the limit: exactly those that fit succeed', async () => {
    const user = await newUser('limit');
    const responses = await parallel(await small.url(), user, 20, 10_000);
    const ok = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 400 && isError(r.body, 'BALANCE_LIMIT_EXCEEDED'));
    assert.equal(ok.length, 5);
    assert.equal(refused.length, 15);
    assert.deepEqual(await stored(small, user.userId), { balance: 50_000, entries: 5 });
  });

  it('20 parallel charges with one key: exactly one charge', async () => {
    const user = await newUser('same-key');
    const responses = await parallel(await main.url(), user, 20, 4_000, randomUUID());
    assert.equal(responses.filter((r) => r.status === 200).length, 1);
    assert.equal(responses.filter((r) => r.status === 409 && isError(r.body, 'DUPLICATE_REQUEST')).length, 19);
    assert.deepEqual(await stored(main, user.userId), { balance: 4_000, entries: 1 });
  });

  it('one key near the limit: one charge, the rest 409, never BALANCE_LIMIT_EXCEEDED', async () => {
    const user = await newUser('key-limit');
    await chargeOk(small, user, 45_000);
    const responses = await parallel(await small.url(), user, 20, 5_000, randomUUID());
    assert.equal(responses.filter((r) => r.status === 200).length, 1);
    assert.equal(responses.filter((r) => r.status === 409 && isError(r.body, 'DUPLICATE_REQUEST')).length, 19);
    assert.deepEqual(await stored(small, user.userId), { balance: 50_000, entries: 2 });
  });
});

describe('refundPoints (for cancels and recovery)', () => {
  it('a refund passes the limit and names its order in the history', async () => {
    const user = await newUser();
    await chargeOk(small, user, 50_000);
    const orderId = randomUUID();
    const balance = await small.db.transaction((tx) => refundPoints(tx, user.userId, 20_000, orderId));
    assert.equal(balance, 70_000);
    assert.deepEqual(await stored(small, user.userId), { balance: 70_000, entries: 2 });
    const history = await call(small.app, { method: 'GET', url: '/api/points/history', headers: user.headers });
    assert.deepEqual(
      { ...history.body.entries[0], id: 0, createdAt: '' },
      { id: 0, type: 'REFUND', amount: 20_000, balanceAfter: 70_000, orderId, createdAt: '' },
    );
    // A further charge is still held to the limit.
    assert.ok(isError((await charge(small, user, { amount: 1_000 })).body, 'BALANCE_LIMIT_EXCEEDED'));
  });

  it('a refund to a user never seen creates the wallet; the same order is refunded once', async () => {
    const user = await newUser();
    const orderId = randomUUID();
    assert.equal(await main.db.transaction((tx) => refundPoints(tx, user.userId, 1_500, orderId)), 1_500);
    await assert.rejects(main.db.transaction((tx) => refundPoints(tx, user.userId, 1_500, orderId)));
    assert.deepEqual(await stored(main, user.userId), { balance: 1_500, entries: 1 });
  });

  it('asserts that amounts are positive integers', async () => {
    for (const amount of [0, -1, 1.5]) {
      await assert.rejects(main.db.transaction((tx) => refundPoints(tx, 'nobody', amount, randomUUID())), { name: 'AssertionError' });
    }
  });
});

describe('wallet invariants after everything above', () => {
  it('for every user touched: balance = CHARGE + REFUND − USE, and balance ≥ 0', async () => {
    for (const t of [main, small]) {
      const rows = await t.db.query<{ user_id: string; balance: number | null; ledger: number }>(
        `SELECT u.user_id, w.balance,
                COALESCE((SELECT sum(CASE type WHEN 'USE' THEN -amount ELSE amount END)
                          FROM point_ledger l WHERE l.user_id = u.user_id), 0)::bigint AS ledger
         FROM unnest($1::text[]) AS u (user_id) LEFT JOIN wallets w ON w.user_id = u.user_id`,
        [[...touched]],
      );
      assert.equal(rows.length, touched.size);
      for (const row of rows) {
        assert.equal(row.balance ?? 0, row.ledger, row.user_id);
        assert.ok((row.balance ?? 0) >= 0, row.user_id);
      }
    }
  });
});
