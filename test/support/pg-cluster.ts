/**
 * A PostgreSQL cluster of a test's own (pg_createcluster), for faults that
 * must never touch the shared server: an immediate-mode crash restart. It is
 * dropped when the test ends.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import net from 'node:net';

const run = promisify(execFile);
const version = '15';

export type PgCluster = {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** `pg_ctlcluster … restart -m immediate`: a crash, then crash recovery. */
  crashRestart(): Promise<void>;
  drop(): Promise<void>;
};

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1' }, () => server.close(() => resolve(true)));
  });
}

/** Creates and starts a cluster on the first free port of `ports`, with trust authentication on 127.0.0.1. */
export async function createCluster(prefix: string, ports: readonly number[]): Promise<PgCluster> {
  let port: number | undefined;
  for (const candidate of ports) if (await portFree(candidate)) { port = candidate; break; }
  if (port === undefined) throw new Error(`no free port among ${ports.join(', ')}`);
  const name = `${prefix}_${process.pid}`;
  await run('pg_createcluster', [version, name, '--port', String(port), '--', '--auth=trust']);
  const cluster: PgCluster = {
    name,
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    crashRestart: async () => {
      await run('pg_ctlcluster', [version, name, 'restart', '-m', 'immediate']);
    },
    drop: async () => {
      await run('pg_dropcluster', [version, name, '--stop']);
    },
  };
  try {
    await run('pg_ctlcluster', [version, name, 'start']);
  } catch (error) {
    await cluster.drop().catch(() => {});
    throw error;
  }
  return cluster;
}
