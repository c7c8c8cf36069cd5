/**
 * `npm run cluster -- --instances N --port P`: the production shape on this
 * machine (scripts/cluster/stack.ts) — a PostgreSQL primary and its
 * streaming replica, PgBouncer in transaction pooling, N instances of the
 * built service sharing one DATA_DIR, HAProxy on P. Ctrl-C or SIGTERM stops
 * everything it started, and only that.
 *
 *   --instances N        service instances (default 3), on ports P+1..P+N
 *   --port P             HAProxy (default 8080)
 *   --pg-port PORT       the primary (default 5433); the replica on PORT+1
 *   --pgbouncer-port P   PgBouncer (default 6432)
 *   --pool-size N        PgBouncer's server connections to the primary (default 20)
 *   --keep               keep the run directory (logs, configs) after stopping
 */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { rootDir, startStack } from './cluster/stack.js';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '3' },
    port: { type: 'string', default: '8080' },
    'pg-port': { type: 'string', default: '5433' },
    'pgbouncer-port': { type: 'string', default: '6432' },
    'pool-size': { type: 'string', default: '20' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});

function count(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    process.exit(2);
  }
  return value;
}

const instances = count('instances', values.instances, 1, 32);
const port = count('port', values.port, 1024, 65_535 - instances);
const pgPort = count('pg-port', values['pg-port'], 1024, 65_534);
const pgbouncerPort = count('pgbouncer-port', values['pgbouncer-port'], 1024, 65_535);
const poolSize = count('pool-size', values['pool-size'], 1, 500);
const jwtSecret = process.env.JWT_SECRET ?? randomBytes(24).toString('hex');

console.log('building the service');
const build = spawnSync('npm', ['run', '-s', 'build'], { cwd: rootDir, stdio: 'inherit' });
if (build.status !== 0) process.exit(1);

const stack = await startStack({
  instances,
  port,
  pgPort,
  pgbouncerPort,
  poolSize,
  entry: 'dist',
  keepDir: values.keep,
  env: { JWT_SECRET: jwtSecret, ...(process.env.LOG_LEVEL === undefined ? {} : { LOG_LEVEL: process.env.LOG_LEVEL }) },
  log: (line) => console.log(`cluster: ${line}`),
}).catch((error: unknown) => {
  console.error(`cluster: ${(error as Error).message}`);
  process.exit(1);
});

console.log(`
The API is at ${stack.url} (HAProxy in front of ${instances} instance(s)).
  token:    JWT_SECRET=${jwtSecret} npm run -s token -- alice --admin
  primary:  ${stack.primary.url}   (direct; LISTEN for product changes)
  replica:  ${stack.replica.url}   (catalogue reads)
  pooled:   ${stack.pgbouncerUrl}   (PgBouncer, what the instances use)
  logs:     ${stack.dir}/logs
Ctrl-C stops everything.`);

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`cluster: ${signal}: draining and stopping`);
  stack.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`cluster: ${(error as Error).message}`);
      process.exit(1);
    },
  );
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
