/**
 * The service scenarios. Each probes its route first (a 404 means the
 * feature is not there yet: the scenario is reported as not implemented and
 * skipped), prepares its data, runs the load, verifies the answers it
 * expects and checks the SPEC §9 invariants from the database.
 */
import type pg from 'pg';
import { checkInvariants } from './invariants.js';
import { runLoad, type LoadResult, type LoadSpec } from './load.js';
import type { Sizes } from './options.js';
import { createCampaign, createProduct, issueOrderCoupons } from './seed.js';
import { lastStreamSeq, outboxNote, readLag } from './events.js';
import { join } from 'node:path';

export type ScenarioStatus = 'ok' | 'FAILED' | 'not-implemented';

export type ScenarioResult = {
  name: string;
  /** Key into options.targets, when the scenario has a target. */
  family: string;
  baseline: string;
  status: ScenarioStatus;
  load?: LoadResult;
  /** The baseline's throughput when the baseline is another scenario of the same run. */
  baselineThroughput?: number;
  notes: string[];
};

export type Ctx = {
  db: pg.Pool;
  ports: readonly number[];
  sizes: Sizes;
  tokensFile: string;
  firstToken: string;
  productLo: number;
  productHi: number;
  userIds: readonly string[];
  tmpDir: string;
  redis: boolean;
  /** Names the rows (default `<ports>p`), e.g. `w2` for one process with WORKERS=2. */
  label?: string;
  /** Processes the service runs as, for the hello baseline (default: one per port). */
  processes?: number;
};

function procLabel(ctx: Ctx): string {
  return ctx.label ?? `${ctx.ports.length}p`;
}

function helloBaseline(ctx: Ctx): string {
  return `hello-${ctx.sizes.clients}c-${ctx.processes ?? ctx.ports.length}p`;
}

async function probe(ctx: Ctx, method: string, path: string, body?: unknown): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${ctx.ports[0]}${path}`, {
    method,
    headers: { authorization: `Bearer ${ctx.firstToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await response.arrayBuffer();
  return response.status;
}

type Plan = {
  name: string;
  family: string;
  baseline: string;
  /** Method, path and an invalid body: answers 400 when the route exists, 404 when it does not. */
  probe: [string, string, unknown?];
  /** For GET probes: any answer but 200 means not implemented. */
  probeMustBe200?: boolean;
  prepare: () => Promise<Partial<LoadSpec>>;
  /**
   * A second of load on the same route before the measurement, for runs too
   * short to leave the service's cold code out of the figure.
   */
  warmUp?: () => Promise<Partial<LoadSpec>>;
  /** 'soldOut': the figure is the throughput from the first 410 on (SPEC: "once sold out"). */
  figure?: 'soldOut';
  verify?: (load: LoadResult) => Promise<string[]>;
  /** For a baseline that is another scenario of this run: its throughput, once measured. */
  baselineThroughput?: () => number | undefined;
  /** Further figures for the notes, measured after the load. */
  measure?: (load: LoadResult) => Promise<string[]>;
};

async function execute(ctx: Ctx, plan: Plan): Promise<ScenarioResult> {
  const result: ScenarioResult = { name: plan.name, family: plan.family, baseline: plan.baseline, status: 'ok', notes: [] };
  const baselineThroughput = plan.baselineThroughput?.();
  if (baselineThroughput !== undefined) result.baselineThroughput = baselineThroughput;
  const status = await probe(ctx, ...plan.probe);
  if (status === 404 || (plan.probeMustBe200 === true && status !== 200)) {
    result.status = 'not-implemented';
    result.notes.push(`${plan.probe[0]} ${plan.probe[1]} answered ${status}`);
    return result;
  }
  const base = { kind: 'hello' as const, ports: ctx.ports, clients: ctx.sizes.clients, durationS: ctx.sizes.durationS };
  if (plan.warmUp !== undefined) await runLoad({ ...base, label: `${plan.name} warm-up`, ...(await plan.warmUp()), durationS: 1 }, ctx.tmpDir);
  const spec = await plan.prepare();
  const load = await runLoad({ ...base, label: plan.name, ...spec }, ctx.tmpDir);
  result.load = load;
  if (plan.figure === 'soldOut') {
    result.notes.push(`whole burst: ${load.throughput.toFixed(1)} req/s over ${load.durationS.toFixed(2)} s; the figure counts from the first 410`);
    if (load.soldOut === undefined) result.notes.push('never sold out: the figure is the whole burst');
    else result.load = { ...load, throughput: load.soldOut.throughput };
  }
  const problems = [...((await plan.verify?.(load)) ?? []), ...(await checkInvariants(ctx.db))];
  result.notes.push(...((await plan.measure?.(load)) ?? []), await outboxNote(ctx.db));
  if (problems.length > 0) {
    result.status = 'FAILED';
    result.notes.push(...problems);
  }
  return result;
}

function expectAll2xx(load: LoadResult): string[] {
  return load.errors > 0 ? [`${load.errors} answers were not 2xx: ${JSON.stringify(load.statuses)}`] : [];
}

function expectSplit(load: LoadResult, okCount: number, otherStatus: string, otherCount: number): string[] {
  const ok = load.statuses['200'] ?? 0;
  const other = load.statuses[otherStatus] ?? 0;
  const problems: string[] = [];
  if (ok !== okCount) problems.push(`expected exactly ${okCount} × 200, got ${ok}`);
  if (other !== otherCount) problems.push(`expected ${otherCount} × ${otherStatus}, got ${other}`);
  const rest = load.answers - ok - other;
  if (rest > 0) problems.push(`${rest} other answers: ${JSON.stringify(load.statuses)}`);
  return problems;
}

const flashMultiProducts = 4;
const flashMultiCrowd = 48;

/** Deadlocks PostgreSQL has counted in the bench database; backends flush their statistics within a second of going idle. */
async function deadlocks(db: pg.Pool): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  const { rows } = await db.query<{ deadlocks: string }>('SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()');
  return Number(rows[0]!.deadlocks);
}

function tag(): string {
  return Date.now().toString(36).toUpperCase();
}

function orderPlan(ctx: Ctx, clients: number, name: string, family: string, baseline: string): Plan {
  const common = { tokens: ctx.tokensFile, lo: ctx.productLo, hi: ctx.productHi };
  return {
    name, family, baseline, probe: ['POST', '/api/orders', {}],
    prepare: async () => {
      const coupons = join(ctx.tmpDir, `coupons-${name}.tsv`);
      await issueOrderCoupons(ctx.db, `BENCH-ORD-${tag()}-${name}`, ctx.userIds, 4, coupons);
      return { kind: 'order', clients, args: { ...common, coupons } };
    },
    verify: async (load) => expectAll2xx(load),
  };
}

function flashPlan(ctx: Ctx, name: string, family: string, baseline: string): Plan {
  const common = { tokens: ctx.tokensFile, lo: ctx.productLo, hi: ctx.productHi };
  return {
    name, family, baseline, probe: ['POST', '/api/orders', {}],
    prepare: async () => {
      const product = await createProduct(ctx.db, `flash ${tag()}`, 1000, ctx.sizes.flashStock);
      return { kind: 'flash', args: { ...common, product } };
    },
    verify: async (load) => expectAll2xx(load),
  };
}

export function orderPlans(ctx: Ctx): Plan[] {
  const p = procLabel(ctx);
  const { sizes } = ctx;
  const common = { tokens: ctx.tokensFile, lo: ctx.productLo, hi: ctx.productHi };
  const orderProbe: [string, string, unknown] = ['POST', '/api/orders', {}];
  const plans: Plan[] = sizes.orderClients.map((clients) => orderPlan(ctx, clients, `orders-${clients}c-${p}`, `orders-${clients}c`, `pg-order-${clients}c`));
  let flashThroughput: number | undefined;
  const flash = flashPlan(ctx, `flash-${p}`, 'flash', 'pg-order-hot-32c');
  plans.push({
    ...flash,
    verify: async (load) => {
      flashThroughput = load.throughput;
      return flash.verify!(load);
    },
  });
  let deadlocksBefore = 0;
  // Four flash sales at once, shopped by the same few dozen users, each crowd in its own order.
  plans.push({
    name: `flash-multi-${p}`, family: 'flash-multi', baseline: `flash-${p}`, probe: orderProbe,
    baselineThroughput: () => flashThroughput,
    prepare: async () => {
      deadlocksBefore = await deadlocks(ctx.db);
      const products: number[] = [];
      for (let i = 0; i < flashMultiProducts; i++) products.push(await createProduct(ctx.db, `flash-multi ${tag()} ${i}`, 100, sizes.flashStock));
      return { kind: 'flashmulti', args: { tokens: ctx.tokensFile, products: products.join(','), crowd: flashMultiCrowd } };
    },
    verify: async (load) => {
      const seen = (await deadlocks(ctx.db)) - deadlocksBefore;
      return [...expectAll2xx(load), ...(seen > 0 ? [`${seen} deadlocks`] : [])];
    },
  });
  let selloutProduct = 0;
  plans.push({
    name: `sellout-${p}`, family: 'sellout', baseline: 'pg-order-hot-32c', probe: orderProbe,
    prepare: async () => {
      selloutProduct = await createProduct(ctx.db, `sellout ${tag()}`, 1000, sizes.selloutStock);
      return { kind: 'flash', attempts: sizes.selloutAttempts, durationS: sizes.countDeadlineS, args: { ...common, product: selloutProduct } };
    },
    verify: async (load) => {
      const problems = expectSplit(load, sizes.selloutStock, '409', sizes.selloutAttempts - sizes.selloutStock);
      const { rows } = await ctx.db.query<{ stock: string }>('SELECT stock FROM products WHERE id = $1', [selloutProduct]);
      if (Number(rows[0]?.stock) !== 0) problems.push(`sell-out product left with stock ${rows[0]?.stock}`);
      return problems;
    },
  });
  return plans;
}

/** The bound on the relay's lag p99 (commit → JetStream) at the orders-32c rate. */
export const relayLagP99MsMax = 1_000;

/**
 * The same order and flash-sale load with a live NATS relay and with the
 * relay off (the outbox is still written, nothing reads it); the relay-on
 * rows take the relay-off rows of the same run as their baseline. The lag
 * plan measures the relay's lag at the orders-32c rate from the stream itself.
 */
export function relayPlans(ctx: Ctx, relay: 'off' | 'nats', natsUrl?: string): Plan[] {
  const p = `${ctx.ports.length}p`;
  if (relay === 'off') {
    return [
      orderPlan(ctx, 8, `relay-off-orders-8c-${p}`, 'relay-off-orders-8c', 'pg-order-8c'),
      flashPlan(ctx, `relay-off-flash-${p}`, 'relay-off-flash', 'pg-order-hot-32c'),
    ];
  }
  const url = natsUrl!;
  const lag = orderPlan(ctx, 32, `relay-lag-orders-32c-${p}`, 'relay-lag-orders-32c', 'pg-order-32c');
  let firstSeq = 0;
  return [
    orderPlan(ctx, 8, `relay-orders-8c-${p}`, 'relay-orders-8c', `relay-off-orders-8c-${p}`),
    flashPlan(ctx, `relay-flash-${p}`, 'relay-flash', `relay-off-flash-${p}`),
    {
      ...lag,
      prepare: async () => {
        const spec = await lag.prepare();
        firstSeq = await lastStreamSeq(url);
        return spec;
      },
      measure: async () => {
        // Everything the load committed is relayed within a few seconds.
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        const measured = await readLag(url, firstSeq);
        const met = measured.p99Ms < relayLagP99MsMax ? 'met' : 'NOT met';
        return [`relay lag commit → JetStream over ${measured.events} events: p50 ${measured.p50Ms} ms, p99 ${measured.p99Ms} ms, max ${measured.maxMs} ms (target p99 < ${relayLagP99MsMax} ms: ${met})`];
      },
    },
  ];
}

export function couponPlan(ctx: Ctx): Plan {
  const p = procLabel(ctx);
  const family = ctx.redis ? 'coupon-redis' : 'coupon-noredis';
  const { sizes } = ctx;
  const claimants = Math.min(sizes.couponClaimants, ctx.userIds.length);
  let code = '';
  return {
    name: `${family}-${p}`, family, baseline: helloBaseline(ctx), probe: ['POST', '/api/coupons', {}],
    // The burst lasts about a second: claim another campaign (quota 1) first, so the claim route is warm.
    warmUp: async () => {
      const warmCode = `BENCH-WARM-${tag()}-${p}`;
      await createCampaign(ctx.db, warmCode, 1);
      return { kind: 'coupon', args: { tokens: ctx.tokensFile, code: warmCode } };
    },
    ...(ctx.redis ? {} : { figure: 'soldOut' as const }),
    prepare: async () => {
      code = `BENCH-BURST-${tag()}-${p}`;
      await createCampaign(ctx.db, code, sizes.couponQuota);
      return { kind: 'coupon', attempts: claimants, durationS: sizes.countDeadlineS, args: { tokens: ctx.tokensFile, code } };
    },
    verify: async (load) => {
      const problems = expectSplit(load, sizes.couponQuota, '410', claimants - sizes.couponQuota);
      const { rows } = await ctx.db.query<{ n: string }>('SELECT issued_quantity AS n FROM coupon_campaigns WHERE code = $1', [code]);
      if (Number(rows[0]?.n) !== sizes.couponQuota) problems.push(`campaign issued ${rows[0]?.n}, quota ${sizes.couponQuota}`);
      return problems;
    },
  };
}

export function chargePlan(ctx: Ctx): Plan {
  return {
    name: `charge-${procLabel(ctx)}`, family: 'charge', baseline: helloBaseline(ctx), probe: ['POST', '/api/points/charge', {}],
    prepare: async () => ({ kind: 'charge', args: { tokens: ctx.tokensFile } }),
    verify: async (load) => expectAll2xx(load),
  };
}

export function readPlans(ctx: Ctx): Plan[] {
  const p = procLabel(ctx);
  const args = { tokens: ctx.tokensFile, lo: ctx.productLo, hi: ctx.productHi };
  const read = (family: string, kind: LoadSpec['kind'], path: string): Plan => ({
    name: `${family}-${p}`, family, baseline: helloBaseline(ctx), probe: ['GET', path], probeMustBe200: true,
    prepare: async () => ({ kind, args }),
    verify: async (load) => expectAll2xx(load),
  });
  return [
    read('product-detail', 'product', `/api/products/${ctx.productLo}`),
    read('product-list', 'list', '/api/products?limit=20'),
    read('popular', 'popular', '/api/products/popular'),
  ];
}

/** Whether `--only` lets a scenario family run (`coupon` selects both coupon families). */
/** A second of product reads before a measurement: connections open, code compiled, caches warm. */
export async function warmUp(ctx: Ctx): Promise<void> {
  await runLoad(
    { label: 'warm-up', kind: 'product', ports: ctx.ports, clients: ctx.sizes.clients, durationS: 1, args: { tokens: ctx.tokensFile, lo: ctx.productLo, hi: ctx.productHi } },
    ctx.tmpDir,
  );
}

export function selected(sizes: Sizes, family: string): boolean {
  return sizes.only.length === 0 || sizes.only.some((prefix) => family.startsWith(prefix));
}

export async function runPlans(ctx: Ctx, plans: readonly Plan[], report: (r: ScenarioResult) => void): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const plan of plans.filter((p) => selected(ctx.sizes, p.family))) {
    const result = await execute(ctx, plan);
    report(result);
    results.push(result);
  }
  return results;
}
