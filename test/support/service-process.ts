/**
 * The real service as a child process, for tests that kill it mid-payment and
 * start it again. It runs from source through tsx, so no build step sits
 * between an edit and a crash test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ServiceOptions = {
  /**
   * Added to the parent's environment. Without DATA_DIR a fresh temporary one
   * is used. Rate limits and load shedding are off unless named here.
   */
  env?: Record<string, string>;
  cwd?: string;
  readyTimeoutMs?: number;
};

export type ServiceProcess = {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dataDir: string;
  /** Sends a signal (SIGKILL by default: a crash, no cleanup); true when it was delivered. */
  kill(signal?: NodeJS.Signals): boolean;
  /** SIGTERM, then waits for the exit (SIGKILL past the deadline); resolves the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** The exit code once the process is gone and its output drained; null when a signal ended it. */
  readonly exited: Promise<number | null>;
  /** Everything it printed so far, stdout and stderr interleaved (the newest part when large). */
  logs(): string;
};

/**
 * Rate limits and load shedding are off unless a test turns them on (here and
 * in test/helper.ts): their own tests drive them, and elsewhere a burst of one
 * user's orders, or a busy test machine, must not change what a test about
 * something else sees.
 */
export const operatingOff: Readonly<Record<string, string>> = {
  RATE_LIMIT_ORDERS: 'off',
  RATE_LIMIT_CLAIMS: 'off',
  RATE_LIMIT_CHARGES: 'off',
  SHED_LOOP_DELAY_MS: '0',
  SHED_DB_WAITING_MAX: '0',
};

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
// Generous: PGlite loads its WebAssembly and migrates on a machine busy with parallel test files.
const readyTimeoutMsDefault = 60_000;
const stopTimeoutMsDefault = 15_000;
const logBytesMax = 1024 * 1024;

const running = new Set<ServiceProcess>();
const children = new Set<ChildProcess>();
const temporaryDirs = new Set<string>();

// A test process that dies must not leave servers listening behind it.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** A port the kernel just said was free; the child binds it moments later. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function captureLogs(child: ChildProcess): () => string {
  let text = '';
  const append = (chunk: Buffer) => {
    text += chunk.toString('utf8');
    if (text.length > logBytesMax) text = text.slice(text.length - logBytesMax);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  return () => text;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls GET /health until it answers 200, the child exits, or the deadline passes. */
async function waitUntilReady(url: string, exited: Promise<unknown>, timeoutMs: number): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone) {
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(gone ? 'service exited before it was ready' : `service not ready within ${timeoutMs} ms`);
}

async function resolveDataDir(env: Record<string, string>): Promise<string> {
  if (env.DATA_DIR !== undefined) return env.DATA_DIR;
  const dir = await mkdtemp(join(tmpdir(), 'service-data-'));
  temporaryDirs.add(dir);
  return dir;
}

export async function startService(options: ServiceOptions = {}): Promise<ServiceProcess> {
  const env = options.env ?? {};
  const port = await freePort();
  const dataDir = await resolveDataDir(env);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...operatingOff, ...env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const logs = captureLogs(child);
  const exited = new Promise<number | null>((resolve) => {
    // 'close' rather than 'exit': the output is complete by then.
    child.once('close', (code) => {
      children.delete(child);
      resolve(code);
    });
    child.once('error', () => resolve(null));
  });

  const url = `http://127.0.0.1:${port}`;
  const service: ServiceProcess = {
    url,
    port,
    pid: child.pid ?? -1,
    dataDir,
    exited,
    logs,
    kill: (signal = 'SIGKILL') => child.exitCode === null && child.signalCode === null && child.kill(signal),
    stop: async (timeoutMs = stopTimeoutMsDefault) => {
      service.kill('SIGTERM');
      const timer = setTimeout(() => service.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
        running.delete(service);
      }
    },
  };
  running.add(service);
  void exited.then(() => running.delete(service));

  try {
    await waitUntilReady(url, exited, options.readyTimeoutMs ?? readyTimeoutMsDefault);
  } catch (error) {
    service.kill('SIGKILL');
    await exited;
    throw new Error(`${(error as Error).message}; its output:\n${logs()}`);
  }
  return service;
}

/** Stops every service still running and removes the data directories made for them. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((service) => service.stop()));
  await Promise.all([...temporaryDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  temporaryDirs.clear();
}
