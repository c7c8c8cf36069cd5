/**
 * `npm run bench [-- --quick]`: builds the service, creates a fresh
 * PostgreSQL database, measures the baselines, runs every scenario against
 * 1 and 2 service processes started here with production settings, checks
 * the invariants after each, writes bench/results/latest.{json,md,svg}, and
 * drops the database. Exits non-zero when a scenario FAILED.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { runPgOrder, runRedisGate, seedPgOrderCopy, type Figure } from './baselines.js';
import { loadOrderHistory } from './bulk.js';
import { runLoad } from './load.js';
import { generousLimits, helloPortBase, jwtSecret, limitFamilies, limitsOff, parseSizes, pgAdminUrl, redisUrl, servicePortBase, type Sizes } from './options.js';
import { build, commandExists, profileDir, ensureWrk, rootDir, startHello, startServices, stopAll, type Instance, type ServiceOptions } from './proc.js';
import { environment, toRow, writeReport } from './report.js';
import { startBenchNats, waitOutboxDrained } from './events.js';
import { chargePlan, couponPlan, orderPlans, readPlans, relayPlans, runPlans, selected, warmUp, type Ctx, type ScenarioResult } from './scenarios.js';
import { createDatabase, dropDatabase, seedWithTokens, settleDatabase } from './seed.js';
import { startBenchStack } from './stack.js';

const resultsDir = join(rootDir, 'bench/results');
const tmpDir = join(resultsDir, 'tmp');
const baselines: Record<string, Figure> = {};
let running: Instance[] = [];

function log(line: string): void {
  console.log(line);
}

function printResult(result: ScenarioResult): void {
  const row = toRow(result, baselines);
  if (row.throughput === null) {
    log(`  ${result.name}: ${result.status} (${result.notes.join('; ')})`);
    return;
  }
  const ratio = row.ratio === null ? '' : ` = ${row.ratio} × ${row.baseline}`;
  const target = row.target === null ? '' : ` [target ${row.target}: ${row.targetMet ? 'met' : 'NOT met'}]`;
  log(`  ${result.name}: ${row.throughput} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, errors ${row.errors}${ratio}${target} ${result.status}`);
  for (const note of result.notes) log(`    ${note}`);
}

function recordBaseline(name: string, figure: Figure): void {
  baselines[name] = figure;
  log(`  ${name}: ${figure.throughput.toFixed(1)}/s, p50 ${figure.p50Ms.toFixed(2)} ms, p99 ${figure.p99Ms.toFixed(2)} ms, errors ${figure.errors}`);
}

async function measureHello(sizes: Sizes): Promise<void> {
  for (const procs of sizes.processCounts) {
    running = await startHello(procs, helloPortBase);
    const ports = running.map((i) => i.port);
    await runLoad({ label: 'hello warm-up', kind: 'hello', ports, clients: sizes.clients, durationS: 1 }, tmpDir);
    const load = await runLoad({ label: `hello-${procs}p`, kind: 'hello', ports, clients: sizes.clients, durationS: sizes.durationS }, tmpDir);
    recordBaseline(`hello-${sizes.clients}c-${procs}p`, { throughput: load.throughput, p50Ms: load.p50Ms, p99Ms: load.p99Ms, errors: load.errors });
    await stopAll(running);
    running = [];
  }
}

function measureStorageBaselines(sizes: Sizes, databaseUrl: string): void {
  if (['orders', 'flash', 'sellout', 'relay'].some((family) => selected(sizes, family))) measurePgOrder(sizes, databaseUrl);
  if (selected(sizes, 'coupon-redis')) {
    const requests = sizes.quick ? 100_000 : 1_000_000;
    recordBaseline('redis-gate', runRedisGate({ clients: sizes.clients, requests, quota: sizes.couponQuota, key: `bench:gate:${Date.now()}` }));
  }
}

function measurePgOrder(sizes: Sizes, databaseUrl: string): void {
  const common = { databaseUrl, durationS: sizes.durationS, users: sizes.users, products: sizes.products, coupons: sizes.users, tmpDir };
  for (const hot of [false, true]) {
    for (const clients of sizes.orderClients) {
      const name = `pg-order${hot ? '-hot' : ''}-${clients}c`;
      recordBaseline(name, runPgOrder({ ...common, clients, hot }));
    }
  }
}

const stackFamilies = ['orders-8c', 'flash', 'product-detail'];

/**
 * The same processes behind HAProxy, through PgBouncer in transaction
 * pooling; each row's baseline is its direct row of this run (one wrk
 * process against HAProxy, where the direct rows use one per process).
 */
async function runStack(procs: number, direct: Ctx, service: Parameters<typeof startServices>[2], done: ScenarioResult[]): Promise<ScenarioResult[]> {
  log(`service × ${procs} behind HAProxy, through PgBouncer (transaction pooling)`);
  await settleDatabase(direct.db);
  const stack = await startBenchStack(procs, servicePortBase, { ...service, redisUrl }, join(tmpDir, 'stack'));
  try {
    const ctx: Ctx = { ...direct, ports: [stack.port] };
    await warmUp(ctx);
    const plans = [...orderPlans(ctx), ...readPlans(ctx)]
      .filter((plan) => stackFamilies.includes(plan.family))
      .map((plan) => {
        const directName = `${plan.family}-${procs}p`;
        return {
          ...plan,
          name: `stack-${directName}`,
          family: `stack-${plan.family}`,
          baseline: directName,
          baselineThroughput: () => done.find((r) => r.name === directName)?.load?.throughput,
        };
      });
    return await runPlans(ctx, plans, printResult);
  } finally {
    await stack.stop();
  }
}

type Seeded = Omit<Ctx, 'ports' | 'redis' | 'db' | 'sizes' | 'tmpDir'>;
type ServiceEnv = { databaseUrl: string; jwtSecret: string; dataDir: string; profile: boolean; env?: Record<string, string> };

/**
 * The relay on/off comparison: the order and flash-sale loads with a live
 * NATS relay (a nats-server of the bench's own) and with the relay off, in
 * four phases — on, off, off, on — each with services of its own. Each row
 * is the two measurements of its phases together (answers over time, the
 * worse p99), so that a drift over the phase (the tables grow by some
 * 100,000 rows a phase) weighs on both sides alike, and the noise of one
 * 15-second run on this machine (up to ±30 %) weighs half. The relay-on
 * rows take the relay-off rows as their baselines. The first relay-on phase
 * also measures the relay's lag at the orders-32c rate. A relay-off phase
 * leaves a backlog in the outbox; the next relay-on services relay it
 * before anything is measured.
 */
async function runRelayScenarios(sizes: Sizes, db: pg.Pool, seeded: Seeded, service: ServiceEnv, procs: number): Promise<ScenarioResult[]> {
  const runs: ScenarioResult[] = [];
  const nats = await startBenchNats();
  try {
    for (const [phase, relay] of (['nats', 'off', 'off', 'nats'] as const).entries()) {
      log(`service × ${procs}, relay ${relay === 'nats' ? `on, NATS at ${nats.url}` : 'off'} (phase ${phase + 1} of 4)`);
      const env: Record<string, string> = relay === 'nats' ? { NATS_URL: nats.url } : { OUTBOX_RELAY_ENABLED: 'false' };
      running = await startServices(procs, servicePortBase, { ...service, redisUrl, env: { ...service.env, ...env } });
      const ctx: Ctx = { ...seeded, db, sizes, tmpDir, ports: running.map((i) => i.port), redis: true };
      // Relayed first: the events the relay-off parts left (a relay-off part cannot drain them).
      if (relay === 'nats') await waitOutboxDrained(db, 300_000);
      await settleDatabase(db);
      await warmUp(ctx);
      const plans = relayPlans(ctx, relay, nats.url).filter((plan) => phase === 0 || plan.family !== 'relay-lag-orders-32c');
      runs.push(...(await runPlans(ctx, plans, printResult)));
      await stopAll(running);
      running = [];
    }
  } finally {
    await stopAll(running);
    running = [];
    await nats.stop();
  }
  const results = combineRuns(runs);
  for (const result of results) {
    if (result.family.startsWith('relay-off') && result.load !== undefined) {
      const { throughput, p50Ms, p99Ms, errors } = result.load;
      baselines[result.name] = { throughput, p50Ms, p99Ms, errors };
    }
  }
  log('  relay on against relay off, both phases of each:');
  for (const result of results.filter((r) => r.family === 'relay-orders-8c' || r.family === 'relay-flash')) printResult(result);
  return results;
}

/** One row per scenario name: the runs of its phases together. */
function combineRuns(runs: readonly ScenarioResult[]): ScenarioResult[] {
  const byName = new Map<string, ScenarioResult[]>();
  for (const run of runs) byName.set(run.name, [...(byName.get(run.name) ?? []), run]);
  return [...byName.values()].map((same) => {
    if (same.length === 1) return same[0]!;
    const loads = same.flatMap((run) => (run.load === undefined ? [] : [run.load]));
    const first = same[0]!;
    const combined: ScenarioResult = {
      ...first,
      status: same.some((run) => run.status === 'FAILED') ? 'FAILED' : first.status,
      notes: [
        `${same.length} phases: ${loads.map((load) => load.throughput.toFixed(1)).join(' and ')} req/s; the row is their answers over their time, p50 their mean, p99 the worse`,
        ...same.flatMap((run) => run.notes),
      ],
    };
    if (loads.length === same.length) {
      const answers = loads.reduce((sum, load) => sum + load.answers, 0);
      const durationS = loads.reduce((sum, load) => sum + load.durationS, 0);
      const statuses: Record<string, number> = {};
      for (const load of loads) for (const [status, n] of Object.entries(load.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
      combined.load = {
        throughput: answers / durationS,
        p50Ms: loads.reduce((sum, load) => sum + load.p50Ms, 0) / loads.length,
        p99Ms: Math.max(...loads.map((load) => load.p99Ms)),
        answers,
        statuses,
        errors: loads.reduce((sum, load) => sum + load.errors, 0),
        durationS,
      };
    }
    return combined;
  });
}

async function runScenarios(sizes: Sizes, db: pg.Pool, databaseUrl: string, seeded: Seeded): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  let historyLoaded = false;
  const service: ServiceEnv = { databaseUrl, jwtSecret, dataDir: join(tmpDir, 'data'), profile: sizes.profile, env: generousLimits };
  const readsSelected = ['product-detail', 'product-list', 'popular'].some((family) => selected(sizes, family));
  for (const procs of sizes.processCounts) {
    await settleDatabase(db);
    log(`service × ${procs}, with Redis`);
    running = await startServices(procs, servicePortBase, { ...service, redisUrl });
    let ctx: Ctx = { ...seeded, db, sizes, tmpDir, ports: running.map((i) => i.port), redis: true };
    // A relay-off phase before this one left its events behind: relayed first, not during a measurement.
    await waitOutboxDrained(db, 300_000);
    await warmUp(ctx);
    results.push(...(await runPlans(ctx, [...orderPlans(ctx), couponPlan(ctx), chargePlan(ctx)], printResult)));
    if (!historyLoaded && readsSelected) {
      const started = Date.now();
      await loadOrderHistory(db, sizes.historyLines, seeded.productLo, seeded.productHi);
      historyLoaded = true;
      log(`  loaded ${sizes.historyLines} order lines in ${((Date.now() - started) / 1000).toFixed(1)}s`);
      await settleDatabase(db);
      // The popular list may lag by up to 5 seconds (SPEC §5).
      await new Promise((resolve) => setTimeout(resolve, sizes.quick ? 1_000 : 6_000));
    }
    results.push(...(await runPlans(ctx, readPlans(ctx), printResult)));
    await stopAll(running);
    running = [];
    if (selected(sizes, 'relay')) results.push(...(await runRelayScenarios(sizes, db, seeded, service, procs)));
    if (selected(sizes, 'stack')) results.push(...(await runStack(procs, ctx, service, results)));
    results.push(...(await limitsOffPass(ctx, { ...service, env: limitsOff, redisUrl }, results)));
    if (!selected(sizes, 'coupon-noredis')) continue;

    log(`service × ${procs}, without Redis`);
    running = await startServices(procs, servicePortBase, service);
    ctx = { ...ctx, ports: running.map((i) => i.port), redis: false };
    await warmUp(ctx);
    results.push(...(await runPlans(ctx, [couponPlan(ctx)], printResult)));
    await stopAll(running);
    running = [];
  }
  if (sizes.processCounts.includes(2)) results.push(...(await workersPass({ ...seeded, db, sizes, tmpDir, ports: [], redis: true }, { ...service, redisUrl })));
  return results;
}

/**
 * The scenarios of `limitFamilies` again with rate limits off, and a
 * `limits-cost` row for each: the figure with limits on against this one.
 */
async function limitsOffPass(on: Ctx, service: ServiceOptions, measured: readonly ScenarioResult[]): Promise<ScenarioResult[]> {
  const sizes = { ...on.sizes, only: limitFamilies.filter((family) => selected(on.sizes, family)) };
  if (sizes.only.length === 0) return [];
  const procs = on.ports.length;
  log(`service × ${procs}, with Redis, rate limits off`);
  await settleDatabase(on.db);
  running = await startServices(procs, servicePortBase, service);
  const ctx: Ctx = { ...on, sizes, ports: running.map((i) => i.port), label: `${procs}p-limits-off` };
  await warmUp(ctx);
  const off = await runPlans(ctx, [...orderPlans(ctx), couponPlan(ctx)], printResult);
  await stopAll(running);
  running = [];
  // Their figures are baselines of the limits-cost rows, not candidates for their families' targets.
  const rows: ScenarioResult[] = off.map((result) => ({ ...result, family: 'limits-off' }));
  for (const offResult of off) {
    const onName = offResult.name.replace('-limits-off', '');
    const onResult = measured.find((r) => r.name === onName);
    if (onResult?.load === undefined || offResult.load === undefined) continue;
    baselines[offResult.name] = { throughput: offResult.load.throughput, p50Ms: offResult.load.p50Ms, p99Ms: offResult.load.p99Ms, errors: offResult.load.errors };
    const status = onResult.status === 'ok' && offResult.status === 'ok' ? 'ok' : 'FAILED';
    const row: ScenarioResult = { name: `limits-cost-${onName}`, family: 'limits-cost', baseline: offResult.name, status, load: onResult.load, notes: ['the limits-on figure against the same scenario with rate limits off'] };
    printResult(row);
    rows.push(row);
  }
  return rows;
}

/** One service process with WORKERS=2 on one port: the rows beside the two-process ones. */
async function workersPass(base: Ctx, service: ServiceOptions): Promise<ScenarioResult[]> {
  log('service × 1 with WORKERS=2, with Redis');
  await settleDatabase(base.db);
  running = await startServices(1, servicePortBase, { ...service, env: { ...service.env, WORKERS: '2' } });
  const ctx: Ctx = { ...base, ports: running.map((i) => i.port), label: 'w2', processes: 2 };
  await warmUp(ctx);
  const results = await runPlans(ctx, [...orderPlans(ctx), couponPlan(ctx), chargePlan(ctx)], printResult);
  await stopAll(running);
  running = [];
  return results;
}

async function main(): Promise<number> {
  const sizes = parseSizes(process.argv.slice(2));
  ensureWrk();
  for (const tool of ['pgbench', 'redis-benchmark', 'redis-cli']) {
    if (!commandExists(tool)) throw new Error(`${tool} is not installed (apt-get install -y postgresql-client redis-tools)`);
  }
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  if (sizes.profile) {
    rmSync(profileDir, { recursive: true, force: true });
    mkdirSync(profileDir, { recursive: true });
  }
  log(`bench${sizes.quick ? ' --quick' : ''}: building the service`);
  build();

  const dbName = `bench_${process.pid}_${Date.now().toString(36)}`;
  const databaseUrl = await createDatabase(pgAdminUrl, dbName);
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  try {
    log('baselines');
    await measureHello(sizes);
    // The first start migrates the fresh database; seeding needs its schema.
    running = await startServices(1, servicePortBase, { databaseUrl, jwtSecret, dataDir: join(tmpDir, 'data') });
    await stopAll(running);
    running = [];
    const seed = await seedWithTokens(db, sizes.products, sizes.users, join(tmpDir, 'tokens.txt'), jwtSecret);
    await seedPgOrderCopy(db, sizes.products, sizes.users, sizes.users);
    await settleDatabase(db);
    measureStorageBaselines(sizes, databaseUrl);
    // The copy pgbench wrote to is not needed any more, and its garbage must not weigh on the service.
    await db.query('DROP SCHEMA pgb CASCADE');

    const results = await runScenarios(sizes, db, databaseUrl, seed);
    // A run narrowed by --only or --procs does not replace the full picture.
    const report = sizes.only.length > 0 || sizes.processCounts.length < 2 ? 'partial' : 'latest';
    const rows = writeReport(resultsDir, report, results, baselines, await environment(db), sizes.quick);
    const failed = Object.entries(rows).filter(([, r]) => r.status === 'FAILED').map(([name]) => name);
    log(`results: bench/results/${report}.{json,md,svg}`);
    if (failed.length > 0) log(`FAILED: ${failed.join(', ')}`);
    return failed.length > 0 ? 1 : 0;
  } finally {
    await stopAll(running);
    await db.end();
    await dropDatabase(pgAdminUrl, dbName);
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

process.on('SIGINT', () => {
  // wrk gets the same SIGINT from the terminal; the children are stopped by pid.
  void stopAll(running).then(() => process.exit(130));
});

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    void stopAll(running).then(() => process.exit(2));
  },
);
