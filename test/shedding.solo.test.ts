/**
 * Load shedding: 400 connections ordering at once against a real service
 * process, on each database. No 500, `/health` answers within 100 ms
 * throughout (polled from a thread of its own, timed by the service), every refused order is
 * `503 SERVICE_UNAVAILABLE` with `Retry-After` and changed nothing, and the
 * invariants hold. Then each bound on its own: a wait queue bound low enough
 * to shed part of the burst (correct answers, nothing changed, /health
 * answered; its latency is the first test's contract), and a stalled event
 * loop.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { Authenticator } from '../src/auth.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, type Database } from '../src/db.js';
import { bearer, isError, jwtSecret, setupApp, testDb } from './helper.js';
import { probeHealth } from './support/health-probe.js';
import { checkInvariants } from './support/invariants.js';
import { createProduct, fund, ownPort, scrape, tokenHeader, sampleValue } from './support/ops.js';
import { startService, stopAll, type ServiceProcess } from './support/service-process.js';

after(stopAll);

const connections = 400;
const rounds = 3;
const healthBoundMs = 100;
const auth = new Authenticator(jwtSecret);
const defaults = loadConfig({});

type Answer = { status: number; body: any; retryAfter: string | undefined };

/** One POST over a keep-alive agent with a socket per connection; a reset or a timeout is status 0. */
function post(agent: http.Agent, url: string, headers: Record<string, string>, body: unknown): Promise<Answer> {
  const payload = JSON.stringify(body);
  return new Promise((resolve) => {
    const request = http.request(`${url}/api/orders`, { method: 'POST', agent, timeout: 30_000, headers: { ...headers, 'content-type': 'application/json' } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(text), retryAfter: response.headers['retry-after'] }));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve({ status: 0, body: null, retryAfter: undefined }));
    request.end(payload);
  });
}

type Run = { service: ServiceProcess; database: () => Promise<Database>; close: () => Promise<void> };

/** A service process on a database the test can read afterwards (the embedded one, after the process stops). */
async function start(env: Record<string, string>): Promise<Run> {
  if (testDb === 'postgres') {
    const { db, config } = await setupApp({}, { ownDatabase: true });
    const service = await startService({ env: { JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', DATABASE_URL: config.databaseUrl!, ...env } });
    return { service, database: async () => db, close: async () => {} };
  }
  const service = await startService({ env: { JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', ...env } });
  let db: Database | undefined;
  return {
    service,
    database: async () => (db ??= await openDatabase(loadConfig({ DATA_DIR: service.dataDir }), () => {})),
    close: async () => db?.close(),
  };
}

let metricsPortNext = ownPort(7320);

async function orderBurst(env: Record<string, string>) {
  const metricsPort = metricsPortNext++;
  const run = await start({ ...env, METRICS_PORT: String(metricsPort) });
  const { url } = run.service;
  const products: number[] = [];
  for (let i = 0; i < 10; i++) products.push(await createProduct(url, auth, 1_000, 100_000));
  const users = Array.from({ length: connections }, (_, i) => `shed-${i}-${randomUUID().slice(0, 8)}`);
  for (const userId of users) await fund(url, auth, userId, 100_000);
  const headers = users.map((userId) => tokenHeader(auth, userId));
  // A connection each: an agent per user, holding one keep-alive socket.
  const agents = users.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  // Open every connection first, a few at a time: the burst is 400 connections ordering at once, not 400 handshakes.
  const opened = new Set<number>();
  for (let attempt = 0; opened.size < connections; attempt++) {
    assert.ok(attempt < 2_000, 'could not open every connection');
    const next = headers.map((_, i) => i).filter((i) => !opened.has(i)).slice(0, 4);
    await Promise.all(next.map((i) => new Promise<void>((resolve, reject) => {
      http.get(`${url}/api/points`, { agent: agents[i]!, headers: headers[i]! }, (response) => {
        response.resume();
        response.on('end', () => {
          if (response.statusCode === 200) opened.add(i);
          resolve();
        });
      }).on('error', reject);
    })));
  }
  await scrape(`http://127.0.0.1:${metricsPort}`);
  const probe = probeHealth(url);
  const answers: Answer[] = [];
  for (let round = 0; round < rounds; round++) {
    answers.push(
      ...(await Promise.all(
        headers.map((h, i) => {
          const first = products[i % products.length]!;
          const items = i % 2 === 0 ? [{ productId: first, quantity: 1 }] : [{ productId: first, quantity: 1 }, { productId: products[(i + 3) % products.length]!, quantity: 2 }];
          return post(agents[i]!, url, { ...h, 'idempotency-key': randomUUID() }, { items });
        }),
      )),
    );
  }
  const health = await probe.stop();
  // The service's own view of the burst (the scrape before it reset the loop's figures): how late its
  // event loop ran at worst, and how many /health answers took longer than the contract's bound.
  const samples = await scrape(`http://127.0.0.1:${metricsPort}`);
  const loopLagMaxS = sampleValue(samples, 'nodejs_eventloop_lag_max_seconds');
  const healthSeries = { method: 'GET', route: '/health', status_code: '200' };
  const healthServed = sampleValue(samples, 'http_request_duration_seconds_count', healthSeries);
  const healthSlow = healthServed - sampleValue(samples, 'http_request_duration_seconds_bucket', { ...healthSeries, le: String(healthBoundMs / 1000) });
  for (const agent of agents) agent.destroy();
  assert.equal(await run.service.stop(), 0);

  const db = await run.database();
  try {
    const [row] = await db.query<{ paid: number; other: number }>(
      `SELECT count(*) FILTER (WHERE status = 'success')::int AS paid, count(*) FILTER (WHERE status <> 'success')::int AS other FROM orders WHERE user_id = ANY ($1)`,
      [users],
    );
    const invariants = await checkInvariants(db, { userIds: users, productIds: products, pendingAllowed: false });
    return { answers, health, loopLagMaxS, healthServed, healthSlow, paidInDb: row!.paid, otherInDb: row!.other, invariants };
  } finally {
    await run.close();
  }
}

/**
 * `healthBound`: the contract's 100 ms, checked on the burst the contract names (the default bounds),
 * as the service measures it: its event loop never ran later than that, and it answered every /health
 * within it. The probe's own latencies hold a second bound, ten times looser: they also count how late
 * the probe's thread was scheduled on two cores shared with the service and the 400 clients (one run
 * read 127 ms at the probe with the service's loop 40 ms late at most).
 */
function assertBurst(result: Awaited<ReturnType<typeof orderBurst>>, healthBound: boolean) {
  const statuses = new Map<number, number>();
  for (const { status } of result.answers) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `statuses: ${JSON.stringify([...statuses])}`);
  for (const shed of result.answers.filter((a) => a.status === 503)) {
    assert.ok(isError(shed.body, 'SERVICE_UNAVAILABLE'), JSON.stringify(shed.body));
    assert.equal(shed.retryAfter, '1');
  }
  // A shed order changed nothing: the database holds exactly the paid ones.
  assert.equal(result.paidInDb, statuses.get(200) ?? 0);
  assert.equal(result.otherInDb, 0);
  assert.deepEqual(result.invariants, []);
  assert.equal(result.health.failures, 0);
  assert.ok(result.health.latenciesMs.length > rounds, `${result.health.latenciesMs.length} health answers`);
  const slowest = Math.max(...result.health.latenciesMs);
  if (healthBound) {
    const seen = `the service's loop lagged ${(result.loopLagMaxS * 1000).toFixed(1)} ms at most; ${result.healthSlow} of ${result.healthServed} /health answers took ≥ ${healthBoundMs} ms in the service; the probe's slowest took ${slowest.toFixed(1)} ms`;
    assert.ok(result.healthServed >= result.health.latenciesMs.length, seen);
    assert.ok(result.loopLagMaxS * 1000 < healthBoundMs && result.healthSlow === 0, seen);
    assert.ok(slowest < 10 * healthBoundMs, seen);
  }
  return statuses;
}

describe('load shedding', () => {
  it(`${connections} connections ordering at once, ${rounds} times, with the default bounds`, async () => {
    const statuses = assertBurst(await orderBurst({ SHED_LOOP_DELAY_MS: String(defaults.shedLoopDelayMs), SHED_DB_WAITING_MAX: String(defaults.shedDbWaitingMax) }), true);
    assert.ok((statuses.get(200) ?? 0) > 0);
  });

  it('sheds part of the same burst when the wait queue bound is low, and only with 503 + Retry-After', async () => {
    const statuses = assertBurst(await orderBurst({ SHED_LOOP_DELAY_MS: '0', SHED_DB_WAITING_MAX: '4' }), false);
    assert.ok((statuses.get(503) ?? 0) > 0, 'some orders were shed');
    assert.ok((statuses.get(200) ?? 0) > 0, 'some orders were paid');
  });

  it('sheds /api requests that arrive while the event loop is stalled, never /health', async () => {
    const t = await setupApp({ SHED_LOOP_DELAY_MS: '100', SHED_DB_WAITING_MAX: '0' });
    const url = new URL(await t.url());
    const headers = await bearer(t.auth, 'stalled');
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\nauthorization: ${headers.authorization}\r\n\r\n`;
    const open = async () => {
      const socket = net.connect({ port: Number(url.port), host: '127.0.0.1' });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.setEncoding('utf8');
      return socket;
    };
    const answer = (socket: net.Socket) => new Promise<string>((resolve) => socket.once('data', (chunk: string) => resolve(chunk)));
    const [api, health] = [await open(), await open()];
    /** This test shares its thread with the service and its database: it waits for a calm loop to be admitted. */
    const admitted = async (socket: net.Socket, path: string) => {
      for (let attempt = 0; attempt < 20; attempt++) {
        const reply = answer(socket);
        socket.write(request(path));
        if (/^HTTP\/1.1 200/.test(await reply)) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return false;
    };
    // Each connection answers once first, so that both are established on the server's side.
    assert.ok(await admitted(api, '/api/points'));
    assert.ok(await admitted(health, '/health'));
    const apiAnswer = answer(api);
    const healthAnswer = answer(health);
    api.write(request('/api/points'));
    health.write(request('/health'));
    // Both requests now wait in the kernel while this thread (the service's too) is stalled.
    const stalledUntil = performance.now() + 300;
    while (performance.now() < stalledUntil);
    const refused = await apiAnswer;
    assert.match(refused, /^HTTP\/1.1 503/);
    assert.match(refused, /retry-after: 1/i);
    assert.match(refused, /"code":"SERVICE_UNAVAILABLE"/);
    assert.match(await healthAnswer, /^HTTP\/1.1 200/);

    assert.ok(await admitted(api, '/api/points'), 'admitted again once the loop keeps time');
    api.destroy();
    health.destroy();
  });
});
