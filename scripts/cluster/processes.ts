/**
 * Child processes of the cluster, tracked so that stopping it stops exactly
 * what it started, and a dying parent does not leave them behind.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const tracked = new Set<ChildProcess>();
const exitHooks = new Set<() => void>();

// A parent that exits (even through an uncaught error) takes its children with it.
process.on('exit', () => {
  for (const hook of exitHooks) hook();
  for (const child of tracked) child.kill('SIGKILL');
});

/** Runs synchronously at process exit: for what a SIGKILL of a child cannot stop (a postmaster). */
export function onExit(hook: () => void): () => void {
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

export type RunAs = { uid: number; gid: number } | undefined;

/** PostgreSQL and PgBouncer refuse to run as root: as root they run as `postgres`. */
export function unprivileged(): RunAs {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || uid <= 0) throw new Error('running as root needs a "postgres" user to run PostgreSQL and PgBouncer');
  return { uid, gid };
}

export function runSync(command: string, args: readonly string[], runAs?: RunAs, env?: NodeJS.ProcessEnv): string {
  const result = spawnSync(command, args, { encoding: 'utf8', env: env ?? process.env, ...(runAs ?? {}), maxBuffer: 16 << 20 });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

export type Child = {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  alive(): boolean;
  /** Sends `signal`, waits up to `timeoutMs`, then SIGKILL; resolves when gone. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
};

/** A long-running child whose output goes to `logFile`. */
export function startChild(name: string, command: string, args: readonly string[], logFile: string, options: SpawnOptions = {}): Child {
  const log = createWriteStream(logFile, { flags: 'a' });
  // A log that cannot be written (its directory removed while stopping) must not crash the parent.
  log.on('error', () => {});
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  tracked.add(child);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      tracked.delete(child);
      log.end();
      resolve(code);
    });
    child.once('error', (error) => {
      log.write(`${name}: ${error.message}\n`);
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    exited,
    alive,
    stop: async (signal = 'SIGTERM', timeoutMs = 15_000) => {
      if (!alive()) return void (await exited);
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` (an error counts as not yet) until it is true; throws past the deadline, or once `alive` says the process is gone. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const everyMs = 100;
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`not ${what}: the process exited`);
    if (await check().catch(() => false)) return;
    await sleep(everyMs);
  }
  throw new Error(`not ${what} within ${timeoutMs} ms`);
}
