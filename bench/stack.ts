/**
 * The bench's production-shaped path: the same service processes behind
 * HAProxy, talking to the bench's database through PgBouncer in transaction
 * pooling (the configuration `npm run cluster` uses, scripts/cluster/). Its
 * rows (`stack-orders-8c`, `stack-flash`, `stack-product-detail`) are
 * measured against the direct rows of the same run.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { errorFiles, haproxyCfg, pgbouncerIni, pgbouncerUserlist } from '../scripts/cluster/configs.js';
import { runSync, startChild, unprivileged, waitFor, type Child } from '../scripts/cluster/processes.js';
import { ensurePackages } from '../scripts/cluster/stack.js';
import { startServices, stopAll, type Instance, type ServiceOptions } from './proc.js';

export const stackHaproxyPort = 7500;
export const stackPgbouncerPort = 6430;

export type BenchStack = { port: number; stop(): Promise<void> };

export async function startBenchStack(procs: number, instancePortBase: number, service: ServiceOptions, dir: string): Promise<BenchStack> {
  ensurePackages((line) => console.log(`  ${line}`));
  const direct = new URL(service.databaseUrl);
  const database = direct.pathname.slice(1);
  rmSync(dir, { recursive: true, force: true });
  for (const sub of ['logs', 'sockets', 'errors']) mkdirSync(join(dir, sub), { recursive: true });
  const runAs = unprivileged();
  if (runAs !== undefined) runSync('chown', ['-R', `${runAs.uid}:${runAs.gid}`, join(dir, 'logs'), join(dir, 'sockets')]);
  // Single statements get the database's defaults in transaction pooling; the service's own values.
  const admin = new pg.Client({ connectionString: service.databaseUrl });
  await admin.connect();
  for (const [name, value] of [['statement_timeout', 4_000], ['lock_timeout', 3_000], ['idle_in_transaction_session_timeout', 10_000]] as const) {
    await admin.query(`ALTER DATABASE ${database} SET ${name} = ${value}`);
  }
  await admin.end();

  writeFileSync(join(dir, 'pgbouncer.ini'), pgbouncerIni({ port: stackPgbouncerPort, primaryPort: Number(direct.port || 5432), database, poolSize: 16, dir }));
  writeFileSync(join(dir, 'userlist.txt'), pgbouncerUserlist);
  const children: Child[] = [];
  let instances: Instance[] = [];
  const stop = async () => {
    for (const child of [...children].reverse().filter((c) => c.name === 'haproxy')) await child.stop('SIGUSR1');
    await stopAll(instances);
    for (const child of children.filter((c) => c.name === 'pgbouncer')) await child.stop('SIGINT');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pgbouncer = startChild('pgbouncer', '/usr/sbin/pgbouncer', [join(dir, 'pgbouncer.ini')], join(dir, 'logs', 'pgbouncer.log'), { ...(runAs ?? {}) });
    children.push(pgbouncer);
    const pooledUrl = new URL(service.databaseUrl);
    pooledUrl.port = String(stackPgbouncerPort);
    await waitFor('PgBouncer accepting connections', async () => {
      const client = new pg.Client({ connectionString: pooledUrl.toString() });
      await client.connect();
      await client.end();
      return true;
    }, 20_000, pgbouncer.alive);
    instances = await startServices(procs, instancePortBase, {
      ...service,
      databaseUrl: pooledUrl.toString(),
      env: { DB_POOL_MODE: 'transaction', DATABASE_DIRECT_URL: service.databaseUrl },
    });
    for (const [name, text] of Object.entries(errorFiles())) writeFileSync(join(dir, 'errors', name), text);
    writeFileSync(join(dir, 'haproxy.cfg'), haproxyCfg({ port: stackHaproxyPort, instancePorts: instances.map((i) => i.port), dir }));
    const haproxy = startChild('haproxy', '/usr/sbin/haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], join(dir, 'logs', 'haproxy.log'));
    children.push(haproxy);
    await waitFor('HAProxy ready', async () => (await fetch(`http://127.0.0.1:${stackHaproxyPort}/ready`)).status === 200, 20_000, haproxy.alive);
  } catch (error) {
    await stop();
    throw error;
  }
  return { port: stackHaproxyPort, stop };
}
