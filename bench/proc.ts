/**
 * Child processes of the bench: the build, the service instances and the
 * hello baseline server. Everything listens on 127.0.0.1 and is stopped by
 * its pid; a process that does not become ready in time fails the run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const rootDir = fileURLToPath(new URL('..', import.meta.url));
const readyTimeoutMs = 30_000;
const stopTimeoutMs = 10_000;

export function run(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const result = spawnSync(command, args, { cwd: options.cwd ?? rootDir, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr || result.stdout}`);
  return result.stdout;
}

export function build(): void {
  run('npm', ['run', '-s', 'build']);
}

export type Instance = { name: string; port: number; child: ChildProcess; output: string[] };

export const profileDir = fileURLToPath(new URL('../bench/results/profiles', import.meta.url));

function startNode(name: string, script: string, port: number, env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = []): Instance {
  const child = spawn(process.execPath, [...nodeArgs, script], { cwd: rootDir, env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const instance: Instance = { name, port, child, output: [] };
  const keep = (chunk: Buffer) => {
    instance.output.push(chunk.toString());
    if (instance.output.length > 50) instance.output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return instance;
}

async function waitReady(instance: Instance): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (instance.child.exitCode !== null) break;
    try {
      const response = await fetch(`http://127.0.0.1:${instance.port}/ready`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${instance.name} on port ${instance.port} did not become ready:\n${instance.output.join('')}`);
}

export type ServiceOptions = { databaseUrl: string; redisUrl?: string; jwtSecret: string; dataDir: string; profile?: boolean; env?: Record<string, string> };

/** Starts `count` service processes on consecutive ports, one after the other (each migrates first). */
export async function startServices(count: number, portBase: number, options: ServiceOptions): Promise<Instance[]> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    JWT_SECRET: options.jwtSecret,
    LOG_LEVEL: 'warn',
    DATABASE_URL: options.databaseUrl,
    DATA_DIR: options.dataDir,
    HOST: '127.0.0.1',
    ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
    ...options.env,
  };
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const nodeArgs = options.profile === true ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const instance = startNode(`service#${i}`, 'dist/server.js', portBase + i, env, nodeArgs);
    instances.push(instance);
    await waitReady(instance).catch(async (error: unknown) => {
      await stopAll(instances);
      throw error;
    });
  }
  return instances;
}

export async function startHello(count: number, portBase: number): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const instance = startNode(`hello#${i}`, 'bench/hello-server.mjs', portBase + i, { PATH: process.env.PATH, NODE_ENV: 'production' });
    instances.push(instance);
    await waitReady(instance);
  }
  return instances;
}

async function stop(instance: Instance): Promise<void> {
  const { child } = instance;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
  await exited;
  clearTimeout(timer);
}

export async function stopAll(instances: readonly Instance[]): Promise<void> {
  await Promise.all(instances.map(stop));
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

/** wrk is a Debian package; as root the bench installs it, otherwise it says how. */
export function ensureWrk(): void {
  if (commandExists('wrk')) return;
  if (process.getuid?.() === 0) {
    console.log('wrk not found: installing it with apt-get (running as root)');
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', 'wrk']);
    if (commandExists('wrk')) return;
  }
  throw new Error('wrk is not installed: run `sudo apt-get install -y wrk` (Debian/Ubuntu) and try again');
}
