/**
 * What one bench run measures: sizes and time bounds for the full run and for
 * `--quick`, and the targets each scenario is judged against (ratios to a
 * baseline measured in the same run).
 */

export type Sizes = Readonly<{
  quick: boolean;
  /** Seconds of one time-bounded load run. */
  durationS: number;
  /** Hard deadline added to every count-bounded run (seconds). */
  countDeadlineS: number;
  products: number;
  users: number;
  /** Stock of the flash-sale product: large enough never to run out. */
  flashStock: number;
  selloutStock: number;
  selloutAttempts: number;
  couponQuota: number;
  couponClaimants: number;
  /** Order lines bulk-loaded for the popular-products read. */
  historyLines: number;
  /** Service process counts to measure. */
  processCounts: readonly number[];
  /** Concurrent clients of the orders scenario. */
  orderClients: readonly number[];
  clients: number;
  /** Scenario families to run (`--only a,b`); empty means all. */
  only: readonly string[];
  /** Run the services under `--cpu-prof`, writing profiles to bench/results/profiles. */
  profile: boolean;
}>;

const usage = '--quick, --only <family,…>, --procs <n,…>, --profile';

function flagValue(argv: readonly string[], flag: string): string | undefined {
  const at = argv.indexOf(flag);
  if (at < 0) return undefined;
  const value = argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value (${usage})`);
  return value;
}

export function parseSizes(argv: readonly string[]): Sizes {
  const quick = argv.includes('--quick');
  const profile = argv.includes('--profile');
  const onlyArg = flagValue(argv, '--only');
  const procsArg = flagValue(argv, '--procs');
  const known = new Set(['--quick', '--profile', '--only', '--procs', onlyArg, procsArg]);
  const unknown = argv.filter((arg) => !known.has(arg));
  if (unknown.length > 0) throw new Error(`unknown arguments: ${unknown.join(' ')} (understood: ${usage})`);
  const only = onlyArg === undefined ? [] : onlyArg.split(',').filter((f) => f !== '');
  const procs = procsArg?.split(',').map(Number);
  if (procs?.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error(`--procs takes process counts 1–8, got ${procsArg}`);
  const chosen = { only, profile, ...(procs === undefined ? {} : { processCounts: procs }) };
  if (quick) {
    return Object.freeze({
      quick, durationS: 3, countDeadlineS: 30, products: 10_000, users: 2_000, flashStock: 10_000_000,
      selloutStock: 100, selloutAttempts: 2_000, couponQuota: 100, couponClaimants: 2_000,
      historyLines: 100_000, processCounts: [1, 2], orderClients: [8, 32], clients: 32, ...chosen,
    });
  }
  return Object.freeze({
    quick, durationS: 15, countDeadlineS: 120, products: 10_000, users: 20_000, flashStock: 100_000_000,
    selloutStock: 1_000, selloutAttempts: 20_000, couponQuota: 1_000, couponClaimants: 20_000,
    historyLines: 1_000_000, processCounts: [1, 2], orderClients: [8, 32], clients: 32, ...chosen,
  });
}

export type Target = Readonly<{ baseline: string; ratioMin: number; p99MsMax?: number; text: string }>;

/** Targets by scenario family; the baseline key gets the run's client and process counts filled in. */
export const targets: Readonly<Record<string, Target>> = {
  'orders-8c': { baseline: 'pg-order-8c', ratioMin: 1.0, p99MsMax: 20, text: '≥ 1.0 × pg-order (8 clients), p99 < 20 ms' },
  'orders-32c': { baseline: 'pg-order-32c', ratioMin: 1.2, p99MsMax: 20, text: '≥ 1.2 × pg-order (32 clients), p99 < 20 ms' },
  flash: { baseline: 'pg-order-hot-32c', ratioMin: 7.0, text: '≥ 7 × pg-order hot' },
  'flash-multi': { baseline: 'flash', ratioMin: 0.5, text: '≥ 0.5 × flash, 0 deadlocks' },
  'coupon-redis': { baseline: 'hello', ratioMin: 0.4, text: '≥ 0.4 × hello' },
  'coupon-noredis': { baseline: 'hello', ratioMin: 0.25, text: '≥ 0.25 × hello' },
  'product-detail': { baseline: 'hello', ratioMin: 0.35, text: '≥ 0.35 × hello' },
  popular: { baseline: 'hello', ratioMin: 0.7, text: '≥ 0.7 × hello' },
  'relay-orders-8c': { baseline: 'relay-off-orders-8c', ratioMin: 0.9, text: '≥ 0.9 × relay off' },
  'relay-flash': { baseline: 'relay-off-flash', ratioMin: 0.9, text: '≥ 0.9 × relay off' },
  'stack-orders-8c': { baseline: 'orders-8c', ratioMin: 0.8, text: '≥ 0.8 × direct (HAProxy + PgBouncer)' },
  'stack-flash': { baseline: 'flash', ratioMin: 0.8, text: '≥ 0.8 × direct (HAProxy + PgBouncer)' },
  'stack-product-detail': { baseline: 'product-detail', ratioMin: 0.8, text: '≥ 0.8 × direct (HAProxy + PgBouncer)' },
  'limits-cost': { baseline: 'the same scenario with rate limits off', ratioMin: 0.95, text: '≥ 0.95 × rate limits off' },
};

/**
 * Rate limits of the measured service: on, through Redis, and generous, so
 * that the figures carry the limiter's cost and no 429. The `limits-off`
 * pass runs the same scenarios without any.
 */
export const generousLimits: Readonly<Record<string, string>> = {
  RATE_LIMIT_ORDERS: '1000/1s',
  RATE_LIMIT_CLAIMS: '1000/60s',
  RATE_LIMIT_CHARGES: '1000/1s',
};
export const limitsOff: Readonly<Record<string, string>> = { RATE_LIMIT_ORDERS: 'off', RATE_LIMIT_CLAIMS: 'off', RATE_LIMIT_CHARGES: 'off' };
/** Scenario families measured with rate limits on and off in the same run. */
export const limitFamilies: readonly string[] = ['orders-8c', 'flash', 'coupon-redis'];

export const jwtSecret = 'bench-secret-0123456789abcdef-not-for-production';
/** The PostgreSQL server the bench creates its database on; BENCH_PG_URL picks another (e.g. a cluster with pg_stat_statements). */
export const pgAdminUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisUrl = 'redis://127.0.0.1:6379';
export const servicePortBase = 3810;
export const helloPortBase = 3910;
