/**
 * The whole cluster on this machine: a PostgreSQL primary and a streaming
 * replica of its own, PgBouncer in transaction pooling in front of the
 * primary, N service instances sharing one DATA_DIR, and HAProxy in front of
 * them. `npm run cluster` and the cluster tests both bring it up with
 * `startStack`; `stop()` takes down exactly what it started, in the order
 * that lets requests finish: HAProxy (soft stop), the instances (SIGTERM:
 * they drain), PgBouncer, the replica, the primary. A start that fails
 * stops what it had started.
 */
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { errorFiles, haproxyCfg, pgbouncerIni, pgbouncerUserlist } from './configs.js';
import { createPrimary, createReplica, type PgServer } from './postgres.js';
import { runSync, sleep, startChild, unprivileged, waitFor, type Child, type RunAs } from './processes.js';

export const rootDir = fileURLToPath(new URL('../../', import.meta.url));

export type StackOptions = {
  instances: number;
  /** HAProxy listens here; the instances on the ports right after it. */
  port: number;
  pgPort: number;
  /** The replica's port; pgPort + 1 unless given. */
  replicaPort?: number;
  pgbouncerPort: number;
  /** Server connections PgBouncer keeps to the primary. */
  poolSize?: number;
  /** Added to every instance's environment (JWT_SECRET, LOG_LEVEL, ...). */
  env?: Record<string, string>;
  /** `source` runs src/server.ts through tsx (tests); `dist` the built service. */
  entry?: 'source' | 'dist';
  /** Keep the run directory (logs, configs) after stop. */
  keepDir?: boolean;
  log?: (line: string) => void;
};

export type StackInstance = {
  readonly index: number;
  readonly port: number;
  readonly url: string;
  process(): Child | undefined;
  /** Starts it (again) and waits until /ready answers. */
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
};

export type Stack = {
  readonly url: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly primary: PgServer;
  readonly replica: PgServer;
  readonly pgbouncerUrl: string;
  readonly instances: readonly StackInstance[];
  /** Immediate PgBouncer shutdown (every connection cut), then a fresh start on the same port. */
  restartPgbouncer(downMs?: number): Promise<void>;
  stop(): Promise<void>;
};

const readyTimeoutMs = 90_000;

/** The Debian packages the cluster needs, installed the way the bench installs wrk: as root, when missing. */
export function ensurePackages(log: (line: string) => void): void {
  const missing = [
    ['haproxy', '/usr/sbin/haproxy'],
    ['pgbouncer', '/usr/sbin/pgbouncer'],
  ].filter(([, path]) => !existsSync(path!)).map(([name]) => name!);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: sudo apt-get install -y ${missing.join(' ')}`);
  log(`installing ${missing.join(', ')}`);
  runSync('apt-get', ['update', '-qq']);
  // The packages' own services are not wanted (and policy-rc.d usually stops them starting in containers).
  runSync('apt-get', ['install', '-y', '-qq', ...missing], undefined, { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
}

async function makeRunDir(runAs: RunAs): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'commerce-cluster-'));
  await chmod(dir, 0o755);
  for (const sub of ['logs', 'sockets', 'data', 'errors']) await mkdir(join(dir, sub));
  for (const sub of ['primary', 'replica']) await mkdir(join(dir, sub), { mode: 0o700 });
  if (runAs !== undefined) {
    for (const sub of ['logs', 'sockets', 'primary', 'replica']) await chown(join(dir, sub), runAs.uid, runAs.gid);
  }
  return dir;
}

/**
 * In transaction pooling the service cannot set its limits as startup
 * parameters; its transactions set them with SET LOCAL, and its single
 * statements get the database's defaults, set here to the same values.
 */
async function setDatabaseLimits(primary: PgServer, env: Record<string, string>): Promise<void> {
  const queryTimeoutMs = Number(env.DB_QUERY_TIMEOUT_MS ?? 5_000);
  const limits = {
    statement_timeout: Number(env.DB_STATEMENT_TIMEOUT_MS ?? Math.max(50, queryTimeoutMs - 1_000)),
    lock_timeout: Number(env.DB_LOCK_TIMEOUT_MS ?? 3_000),
    idle_in_transaction_session_timeout: Number(env.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS ?? 10_000),
  };
  const client = new pg.Client({ connectionString: primary.url });
  await client.connect();
  try {
    for (const [name, value] of Object.entries(limits)) await client.query(`ALTER DATABASE postgres SET ${name} = ${Math.trunc(value)}`);
  } finally {
    await client.end();
  }
}

async function ready(url: string): Promise<boolean> {
  const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
  await response.arrayBuffer();
  return response.status === 200;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => {});
  ensurePackages(log);
  const runAs = unprivileged();
  const dir = await makeRunDir(runAs);
  const dataDir = join(dir, 'data');
  const stops: Array<() => Promise<void>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => log(`while stopping: ${(error as Error).message}`));
    stops.length = 0;
    if (options.keepDir !== true) await rm(dir, { recursive: true, force: true });
  };
  try {
    log(`run directory ${dir}`);
    const primary = await createPrimary(dir, options.pgPort, runAs);
    await primary.start();
    stops.push(async () => primary.stop('fast'));
    log(`primary PostgreSQL on ${primary.port}`);
    await setDatabaseLimits(primary, options.env ?? {});

    const replica = await createReplica(dir, primary, options.replicaPort ?? options.pgPort + 1, runAs);
    await replica.start();
    stops.push(async () => replica.stop('fast'));
    log(`streaming replica on ${replica.port} (pg_basebackup)`);

    const poolSize = options.poolSize ?? 20;
    await writeFile(join(dir, 'pgbouncer.ini'), pgbouncerIni({ port: options.pgbouncerPort, primaryPort: primary.port, poolSize, dir }));
    await writeFile(join(dir, 'userlist.txt'), pgbouncerUserlist);
    let pgbouncer: Child | undefined;
    const startPgbouncer = async () => {
      pgbouncer = startChild('pgbouncer', '/usr/sbin/pgbouncer', [join(dir, 'pgbouncer.ini')], join(dir, 'logs', 'pgbouncer.log'), { ...(runAs ?? {}) });
      await waitFor('PgBouncer accepting connections', async () => {
        const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${options.pgbouncerPort}/postgres` });
        await client.connect();
        await client.query('SELECT 1');
        await client.end();
        return true;
      }, 20_000, pgbouncer.alive);
    };
    await startPgbouncer();
    // SIGINT is PgBouncer's safe shutdown: it waits for running transactions.
    stops.push(async () => pgbouncer?.stop('SIGINT'));
    const pgbouncerUrl = `postgres://postgres@127.0.0.1:${options.pgbouncerPort}/postgres`;
    log(`PgBouncer (transaction pooling, ${poolSize} server connections) on ${options.pgbouncerPort}`);

    const entry = options.entry ?? 'source';
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      ...options.env,
      DATABASE_URL: pgbouncerUrl,
      DB_POOL_MODE: 'transaction',
      DATABASE_DIRECT_URL: primary.url,
      DATABASE_REPLICA_URL: replica.url,
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
    };
    const instances: StackInstance[] = Array.from({ length: options.instances }, (_, index) => {
      const port = options.port + 1 + index;
      const url = `http://127.0.0.1:${port}`;
      let child: Child | undefined;
      return {
        index,
        port,
        url,
        process: () => child,
        kill: (signal = 'SIGKILL') => {
          if (child?.alive()) child.child.kill(signal);
        },
        start: async () => {
          const args = entry === 'source' ? ['--import', 'tsx', 'src/server.ts'] : ['dist/server.js'];
          child = startChild(`instance ${index + 1}`, process.execPath, args, join(dir, 'logs', `instance-${index + 1}.log`), {
            cwd: rootDir,
            env: { ...env, PORT: String(port) },
          });
          const started = child;
          await waitFor(`instance ${index + 1} ready on ${port}`, () => ready(url), readyTimeoutMs, started.alive);
        },
      };
    });
    stops.push(async () => {
      await Promise.all(instances.map((instance) => instance.process()?.stop('SIGTERM', 15_000)));
    });
    // One after the other: each migrates first, and two cores are enough to start one at a time quickly.
    for (const instance of instances) {
      await instance.start();
      log(`instance ${instance.index + 1} on ${instance.port}`);
    }

    for (const [name, text] of Object.entries(errorFiles())) await writeFile(join(dir, 'errors', name), text);
    await writeFile(join(dir, 'haproxy.cfg'), haproxyCfg({ port: options.port, instancePorts: instances.map((i) => i.port), dir }));
    runSync('/usr/sbin/haproxy', ['-c', '-q', '-f', join(dir, 'haproxy.cfg')]);
    const haproxy = startChild('haproxy', '/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], join(dir, 'logs', 'haproxy.log'));
    // SIGUSR1 is HAProxy's soft stop: it stops listening and lets open requests finish.
    stops.push(async () => haproxy.stop('SIGUSR1', 20_000));
    const url = `http://127.0.0.1:${options.port}`;
    await waitFor('HAProxy ready', () => ready(url), 20_000, haproxy.alive);
    log(`HAProxy on ${options.port}`);

    return {
      url,
      dir,
      dataDir,
      primary,
      replica,
      pgbouncerUrl,
      instances,
      restartPgbouncer: async (downMs = 500) => {
        // SIGTERM is PgBouncer's immediate shutdown: every client and server connection is cut.
        await pgbouncer?.stop('SIGTERM', 10_000);
        await sleep(downMs);
        await startPgbouncer();
      },
      stop: stopAll,
    };
  } catch (error) {
    const logs = await tailLogs(dir);
    await stopAll();
    throw new Error(`${(error as Error).message}\n${logs}`);
  }
}

/** The end of every log of the run, for a start that failed. */
async function tailLogs(dir: string): Promise<string> {
  const logDir = join(dir, 'logs');
  const names = await readdir(logDir).catch(() => [] as string[]);
  const parts = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(join(logDir, name), 'utf8').catch(() => '');
      return `--- ${name}\n${text.split('\n').slice(-30).join('\n')}`;
    }),
  );
  return parts.join('\n');
}
