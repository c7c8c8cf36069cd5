/**
 * `npm run bench:relay-ab -- [--family flash|orders-8c] [--reps N] [--procs N]
 * [--separate] [--variant NAME:KEY=VALUE,…]…`: the relay's cost on one
 * scenario, with more alternations than the full bench affords. Each
 * repetition runs the scenario with the relay off, with the relay on (NATS,
 * a nats-server of the bench's own), and with each variant — the relay on
 * with more settings (`--variant batch1000:OUTBOX_BATCH_MAX=1000`), or, with
 * `--separate`, relayed by a second instance that takes no requests. Each
 * run has services of its own, started after the outbox is drained and the
 * database settled, so that a slow spell of the machine falls on one
 * repetition of every variant rather than on one variant. Prints every run
 * with its status (a run that shed load under a slow spell reads FAILED and
 * still counts), then each variant's mean and its ratio to the relay-off
 * mean; exits non-zero when a run FAILED.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { cpuMinus, cpuPer, cpuTimes, formatCpu, meanCpu, type CpuTimes } from './cpu.js';
import { startBenchNats, unrelayedEvents, waitOutboxDrained } from './events.js';
import { generousLimits, jwtSecret, parseSizes, pgAdminUrl, redisUrl, servicePortBase } from './options.js';
import { build, rootDir, startServices, stopAll, type Instance } from './proc.js';
import { relayPlans, runPlans, warmUp, type Ctx } from './scenarios.js';
import { createDatabase, dropDatabase, seedWithTokens, settleDatabase } from './seed.js';

const tmpDir = join(rootDir, 'bench/results/tmp');
const separatePort = servicePortBase + 20;

type Variant = { name: string; relay: boolean; env: Record<string, string>; separate: boolean };
type Options = { family: 'flash' | 'orders-8c'; reps: number; procs: number; variants: Variant[] };

function parseVariant(text: string): Variant {
  const [name, settings = ''] = text.split(':', 2);
  if (name === undefined || name === '') throw new Error(`--variant NAME:KEY=VALUE,… (got ${text})`);
  const env: Record<string, string> = {};
  for (const pair of settings.split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--variant ${text}: ${pair} is not KEY=VALUE`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return { name, relay: true, env, separate: false };
}

function parseOptions(argv: readonly string[]): Options {
  const options: Options = {
    family: 'flash',
    reps: 3,
    procs: 1,
    variants: [
      { name: 'off', relay: false, env: {}, separate: false },
      { name: 'on', relay: true, env: {}, separate: false },
    ],
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--separate') {
      options.variants.push({ name: 'separate', relay: true, env: {}, separate: true });
      continue;
    }
    if (value === undefined) throw new Error(`${flag} needs a value`);
    i += 1;
    if (flag === '--family' && (value === 'flash' || value === 'orders-8c')) options.family = value;
    else if (flag === '--reps') options.reps = Math.max(1, Number(value));
    else if (flag === '--procs') options.procs = Math.max(1, Number(value));
    else if (flag === '--variant') options.variants.push(parseVariant(value));
    else throw new Error(`unknown flag ${flag} ${value}`);
  }
  return options;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const sizes = parseSizes(['--only', 'relay']);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  build();
  const dbName = `bench_ab_${process.pid}_${Date.now().toString(36)}`;
  const databaseUrl = await createDatabase(pgAdminUrl, dbName);
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const nats = await startBenchNats();
  const service = { databaseUrl, jwtSecret, redisUrl };
  const measured = new Map<string, number[]>();
  const costs = new Map<string, CpuTimes[]>();
  // Each run's start, in CPU seconds: the services', and the relay's drain of the events a relay-off run left.
  const starts = new Map<string, Array<{ cpu: CpuTimes; backlog: number }>>();
  let failed = 0;
  let running: Instance[] = [];
  try {
    // The first start migrates the fresh database; seeding needs its schema.
    await stopAll(await startServices(1, servicePortBase, { ...service, dataDir: join(tmpDir, 'data') }));
    const seed = await seedWithTokens(db, sizes.products, sizes.users, join(tmpDir, 'tokens.txt'), jwtSecret);
    for (let rep = 1; rep <= options.reps; rep++) {
      for (const variant of options.variants) {
        const relayEnv: Record<string, string> = variant.relay ? { NATS_URL: nats.url, ...variant.env } : { OUTBOX_RELAY_ENABLED: 'false' };
        const serving = variant.separate ? { OUTBOX_RELAY_ENABLED: 'false' } : relayEnv;
        const backlog = await unrelayedEvents(db);
        const startCpu = cpuTimes();
        const relaying = variant.separate ? await startServices(1, separatePort, { ...service, dataDir: join(tmpDir, 'relay'), env: { ...generousLimits, ...relayEnv } }) : [];
        running = [...relaying, ...(await startServices(options.procs, servicePortBase, { ...service, dataDir: join(tmpDir, 'data'), env: { ...generousLimits, ...serving } }))];
        const ports = running.filter((instance) => !relaying.includes(instance)).map((instance) => instance.port);
        const ctx: Ctx = { ...seed, db, sizes, tmpDir, ports, redis: true };
        if (variant.relay) await waitOutboxDrained(db, 300_000);
        starts.set(variant.name, [...(starts.get(variant.name) ?? []), { cpu: cpuMinus(cpuTimes(), startCpu), backlog: variant.relay ? backlog : 0 }]);
        await settleDatabase(db);
        await warmUp(ctx);
        const family = variant.relay ? `relay-${options.family}` : `relay-off-${options.family}`;
        const before = cpuTimes();
        const [result] = await runPlans(ctx, relayPlans(ctx, variant.relay ? 'nats' : 'off', nats.url).filter((plan) => plan.family === family), () => {});
        const after = cpuTimes();
        await stopAll(running);
        running = [];
        if (result?.load === undefined) throw new Error(`${variant.name}: ${result?.status} (${result?.notes.join('; ')})`);
        // A FAILED run (answers it did not expect, an invariant broken) is printed as such and still counted.
        if (result.status !== 'ok') failed += 1;
        measured.set(variant.name, [...(measured.get(variant.name) ?? []), result.load.throughput]);
        const cpu = cpuPer(before, after, result.load.answers);
        costs.set(variant.name, [...(costs.get(variant.name) ?? []), cpu]);
        console.log(`rep ${rep} ${variant.name}: ${result.load.throughput.toFixed(0)} req/s, p99 ${result.load.p99Ms} ms, ${result.status} (${result.notes.join('; ')})`);
        console.log(`  ${formatCpu(cpu)}`);
      }
    }
  } finally {
    await stopAll(running);
    await nats.stop();
    await db.end();
    await dropDatabase(pgAdminUrl, dbName);
  }
  const off = mean(measured.get('off')!);
  for (const [name, figures] of measured) {
    console.log(`${name}: mean ${mean(figures).toFixed(0)} req/s [${figures.map((figure) => figure.toFixed(0)).join(', ')}], ${(mean(figures) / off).toFixed(3)} × off`);
    console.log(`  ${formatCpu(meanCpu(costs.get(name)!))}`);
  }
  // A relay-off start drains nothing: what a relay's start costs beyond it is the drain.
  const offStart = meanCpu(starts.get('off')!.map((start) => start.cpu));
  for (const [name, runs] of starts) {
    const events = runs.reduce((sum, run) => sum + run.backlog, 0);
    if (events === 0) continue;
    const drained = cpuPer(offStart, meanCpu(runs.map((run) => run.cpu)), events / runs.length);
    console.log(`${name} relaying a backlog (${(events / runs.length).toFixed(0)} events a run, no other load): ${formatCpu(drained, 'event')}`);
  }
  if (failed > 0) {
    console.log(`FAILED: ${failed} of the runs`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
