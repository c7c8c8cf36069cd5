/**
 * SIGTERM under load (SPEC §2): the real service as a child process, a few
 * hundred orders in flight on keep-alive connections, one request whose body
 * is half sent and one whose headers are half sent at the signal. Every
 * request sent before the signal is answered (served, or 503 with
 * Retry-After when its bytes reach the service after the signal did), the
 * request whose headers arrive after it hears 503, the process exits 0 within 10 s, and a
 * restart on the same data finds nothing pending, with the invariants whole.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Authenticator } from '../src/auth.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db.js';
import { migrate } from '../src/migrate.js';
import { fundWallet, makeProduct } from './fixtures.js';
import { jwtSecret, setupApp, testDb, uniqueUser } from './helper.js';
import { checkInvariants } from './support/invariants.js';
import { RawConnection, requestText, type RawAnswer } from './support/raw-http.js';
import { startService, stopAll } from './support/service-process.js';

const connectionsMax = 240;
const usersMax = 60;
/** Answers before the signal, so the load is in full swing when it comes. */
const warmAnswersMin = 2 * connectionsMax;
/** SPEC §2: exit within 10 s of SIGTERM, also under full load. */
const exitWithinMs = 10_000;

const auth = new Authenticator(jwtSecret);

after(stopAll);

/**
 * When a request was written: before SIGTERM was sent, after the service was
 * seen to have stopped accepting connections, or in between (when the
 * service, its event loop busy, may not have seen the signal yet).
 */
type Phase = 'before' | 'between' | 'after';
type Sent = { phase: Phase; key: string; userId: string; answer?: RawAnswer; lost?: string };

/** The database the service will use, set up by the test first; and the env that points the service at it. */
async function openStore(): Promise<{ db: Database; env: Record<string, string>; reopen: () => Promise<Database> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'shutdown-'));
  if (testDb === 'postgres') {
    const { db, config } = await setupApp({}, { ownDatabase: true });
    return { db, env: { DATA_DIR: dataDir, DATABASE_URL: config.databaseUrl! }, reopen: async () => db };
  }
  // PGlite allows one process at a time: seed it, close it, let the service open it.
  const config = loadConfig({ DATA_DIR: dataDir, JWT_SECRET: jwtSecret });
  const open = async () => {
    const db = await openDatabase(config, () => {});
    await migrate(db);
    return db;
  };
  return { db: await open(), env: { DATA_DIR: dataDir, DATABASE_URL: '' }, reopen: open };
}

function orderRequest(userId: string, key: string, productId: number, extra: Record<string, string> = {}): string {
  return requestText('POST', '/api/orders', { authorization: `Bearer ${auth.sign(userId)}`, 'idempotency-key': key, ...extra }, { items: [{ productId, quantity: 1 }] });
}

/** Resolves once the service refuses new connections: it has seen the signal and stopped accepting. */
async function untilRefused(port: number, deadlineMs: number): Promise<void> {
  while (Date.now() < deadlineMs) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    if (refused) return;
    await sleep(10);
  }
  assert.fail('the service kept accepting connections after SIGTERM');
}

describe('SIGTERM under load (SPEC §2)', () => {
  it('answers everything sent before the signal, 503s what arrives after, exits 0 in time, leaves nothing pending', async (t) => {
    const store = await openStore();
    const userIds = Array.from({ length: usersMax }, () => uniqueUser('term'));
    for (const userId of userIds) await fundWallet(store.db, userId, 1_000_000);
    const productIds: number[] = [];
    for (let i = 0; i < 8; i++) productIds.push(await makeProduct(store.db, 100 + 10 * i, 1_000_000));
    if (testDb === 'pglite') await store.db.close();

    const service = await startService({ env: { ...store.env, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: String(exitWithinMs) } });
    const connections = await Promise.all(Array.from({ length: connectionsMax }, () => RawConnection.open(service.port)));
    const halfBody = await RawConnection.open(service.port);
    const halfHeaders = await RawConnection.open(service.port);
    // One answer each first: the service has accepted them, and they are idle keep-alive connections.
    for (const connection of [halfBody, halfHeaders]) {
      connection.write(requestText('GET', '/health', {}));
      assert.equal((await connection.next()).status, 200);
    }

    let phase: Phase = 'before';
    let answered = 0;
    const sent: Sent[] = [];
    const loop = async (connection: RawConnection, c: number) => {
      for (let n = 0; !connection.closed; n++) {
        const userId = userIds[(c + n) % usersMax]!;
        const record: Sent = { phase, key: randomUUID(), userId };
        sent.push(record);
        connection.write(orderRequest(userId, record.key, productIds[(c * 7 + n) % productIds.length]!));
        try {
          record.answer = await connection.next(20_000);
          answered++;
        } catch (error) {
          record.lost = (error as Error).message;
          return;
        }
        // A client obeys Connection: close and sends nothing more on that connection.
        if (record.answer.headers.connection === 'close') return;
      }
    };
    const load = Promise.all(connections.map(loop));
    while (answered < warmAnswersMin) await sleep(20);

    // Half a request on each of the two special connections, then the signal.
    const bodyText = orderRequest(userIds[0]!, randomUUID(), productIds[0]!);
    const split = bodyText.length - 10;
    halfBody.write(bodyText.slice(0, split));
    const headersText = orderRequest(userIds[1]!, randomUUID(), productIds[1]!);
    halfHeaders.write(headersText.slice(0, 40));
    await sleep(50);
    const inFlight = sent.filter((s) => s.answer === undefined && s.lost === undefined).length;
    phase = 'between';
    const signaledAt = Date.now();
    assert.equal(service.kill('SIGTERM'), true);
    const exitedAt = service.exited.then((code) => ({ code, ms: Date.now() - signaledAt }));
    await untilRefused(service.port, signaledAt + exitWithinMs);
    phase = 'after';
    halfBody.write(bodyText.slice(split));
    halfHeaders.write(headersText.slice(40));
    const [bodyAnswer, headersAnswer] = await Promise.all([
      halfBody.next().catch((error: Error) => assert.fail(`the half-sent body: ${error.message}`)),
      halfHeaders.next().catch((error: Error) => assert.fail(`the half-sent headers: ${error.message}`)),
    ]);
    await load;
    const exit = await exitedAt;

    assert.ok(inFlight >= connectionsMax / 2, `only ${inFlight} orders in flight at the signal`);
    assert.deepEqual(exit.code, 0, `exit code ${exit.code}; output:\n${service.logs().slice(-3_000)}`);
    assert.ok(exit.ms < exitWithinMs, `exited ${exit.ms} ms after SIGTERM`);

    assert.equal(bodyAnswer.status, 200, `the half-sent body: ${bodyAnswer.text}`);
    assert.equal(bodyAnswer.headers.connection, 'close');
    assert.equal(headersAnswer.status, 503, `headers completed after the signal: ${headersAnswer.text}`);
    assert.equal(headersAnswer.body.code, 'SERVICE_UNAVAILABLE');
    assert.ok(headersAnswer.body.message.length > 0 && headersAnswer.headers['retry-after'] !== undefined);
    assert.equal(headersAnswer.headers.connection, 'close');

    const before = sent.filter((s) => s.phase === 'before');
    const unanswered = before.filter((s) => s.answer === undefined);
    assert.deepEqual(unanswered.map((s) => s.lost), [], 'a request sent before the signal got no answer');
    const statuses = new Map<string, number>();
    for (const s of sent) statuses.set(`${s.phase} ${s.answer?.status ?? 'lost'}`, (statuses.get(`${s.phase} ${s.answer?.status ?? 'lost'}`) ?? 0) + 1);
    const shown = JSON.stringify([...statuses]);
    t.diagnostic(`${testDb}: ${inFlight} orders in flight at SIGTERM, exit ${exit.code} after ${exit.ms} ms; answers by phase ${shown}`);
    // A request is served, or told 503 when its bytes reach the service after it saw the signal (on a
    // loaded machine the kernel may deliver them later than the signal); never anything else.
    for (const s of sent.filter((x) => x.answer !== undefined && x.answer.status !== 200)) {
      assert.equal(s.answer!.status, 503, `${s.phase}: ${s.answer!.text}`);
      assert.equal(s.answer!.body.code, 'SERVICE_UNAVAILABLE');
      assert.ok(s.answer!.body.message.length > 0 && s.answer!.headers['retry-after'] !== undefined);
      assert.equal(s.answer!.headers.connection, 'close');
    }
    assert.ok(sent.filter((s) => s.phase === 'after').every((s) => s.answer === undefined || s.answer.status === 503), shown);

    // A clean exit leaves no journal behind, and the data is whole.
    const journal = await readdir(join(service.dataDir, 'journal')).catch(() => []);
    assert.deepEqual(journal, []);
    const db = await store.reopen();
    // Every 200 is a paid order; a 503 or a request the closed connection never delivered used no key.
    const paid = sent.filter((s) => s.answer?.status === 200).map((s) => s.key);
    const unused = sent.filter((s) => s.answer === undefined || s.answer.status === 503).map((s) => s.key);
    const [row] = await db.query<{ success: number; other: number; unused: number }>(
      `SELECT count(*) FILTER (WHERE status = 'success' AND idempotency_key = ANY ($1::text[]))::int AS success,
              count(*) FILTER (WHERE status <> 'success' AND idempotency_key = ANY ($1::text[]))::int AS other,
              count(*) FILTER (WHERE idempotency_key = ANY ($2::text[]))::int AS unused
         FROM orders`,
      [paid, unused],
    );
    assert.deepEqual(row, { success: paid.length, other: 0, unused: 0 });
    assert.deepEqual(await checkInvariants(db, { userIds, productIds, pendingAllowed: false }), []);
    if (testDb === 'pglite') await db.close();

    const restarted = await startService({ env: { ...store.env, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn' } });
    // Its first recovery sweep finds nothing to adopt, record or cancel.
    let ready: any;
    for (let i = 0; i < 100 && ready?.recovery?.lastSweepAt == null; i++) {
      ready = await (await fetch(`${restarted.url}/ready`)).json();
      await sleep(100);
    }
    assert.deepEqual([ready.recovery.journalBacklog, ready.recovery.pendingOrders, ready.recovery.lastError], [0, 0, null]);
    assert.equal(await restarted.stop(), 0);
    for (const connection of [...connections, halfBody, halfHeaders]) connection.destroy();
  });
});
