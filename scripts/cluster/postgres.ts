/**
 * The cluster's own PostgreSQL servers: a primary made with initdb and a
 * streaming replica made from it with pg_basebackup, each in a directory of
 * the run and on its own port, started and stopped with pg_ctl. Nothing
 * else on the machine is touched.
 */
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { onExit, runSync, waitFor, type RunAs } from './processes.js';

export type PgServer = {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly url: string;
  start(): Promise<void>;
  /** pg_ctl stop; `immediate` is a crash (no checkpoint), `fast` a clean shutdown. */
  stop(mode?: 'fast' | 'immediate'): void;
  running(): boolean;
};

/** The newest installed PostgreSQL's binaries (Debian keeps them per major version). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

function server(name: string, bin: string, dataDir: string, port: number, logFile: string, runAs: RunAs): PgServer {
  const pgCtl = join(bin, 'pg_ctl');
  let started = false;
  const stop = (mode: 'fast' | 'immediate' = 'fast') => {
    if (!started) return;
    started = false;
    try {
      runSync(pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '30', 'stop'], runAs);
    } catch {
      // Already stopped (a test stopped it, or it crashed).
    }
  };
  // A postmaster is not our child: pg_ctl daemonizes it. Stop it if we exit without cleaning up.
  onExit(() => stop('immediate'));
  return {
    name,
    port,
    dataDir,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    running: () => started,
    start: async () => {
      runSync(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start'], runAs);
      started = true;
      await waitFor(`${name} accepting connections`, async () => {
        const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
        await client.connect();
        await client.end();
        return true;
      }, 30_000);
    },
    stop,
  };
}

/** Settings both servers share; the replica's copy gets its own port appended. */
function settings(port: number, socketDir: string): string {
  return [
    '',
    '# Written by scripts/cluster for this run.',
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${socketDir}'`,
    'max_connections = 200',
    'shared_buffers = 128MB',
    'wal_level = replica',
    'max_wal_senders = 4',
    'hot_standby = on',
    // A standby query in conflict with replay is cancelled after this; the service then reads the primary.
    'max_standby_streaming_delay = 5s',
    'hot_standby_feedback = on',
    '',
  ].join('\n');
}

export async function createPrimary(runDir: string, port: number, runAs: RunAs): Promise<PgServer> {
  const bin = postgresBinDir();
  const dataDir = join(runDir, 'primary');
  const socketDir = join(runDir, 'sockets');
  await mkdir(socketDir, { recursive: true });
  if (runAs !== undefined) runSync('chown', [`${runAs.uid}:${runAs.gid}`, socketDir]);
  runSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-instructions'], runAs);
  await appendFile(join(dataDir, 'postgresql.conf'), settings(port, socketDir));
  return server('primary', bin, dataDir, port, join(runDir, 'logs', 'primary.log'), runAs);
}

/** A hot standby streaming from `primary` (which must be running). */
export async function createReplica(runDir: string, primary: PgServer, port: number, runAs: RunAs): Promise<PgServer> {
  const bin = postgresBinDir();
  const dataDir = join(runDir, 'replica');
  runSync(join(bin, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast'], runAs);
  await appendFile(join(dataDir, 'postgresql.conf'), `\n# The replica's own port.\nport = ${port}\n`);
  return server('replica', bin, dataDir, port, join(runDir, 'logs', 'replica.log'), runAs);
}
