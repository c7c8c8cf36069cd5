/**
 * `WORKERS > 1`: this process forks that many workers with node:cluster, all
 * serving one port, and serves the machine's one `/metrics` (gathered from
 * every worker) on `METRICS_PORT`. Each worker is the whole service: its own
 * database pool, recovery worker and journal under the shared `DATA_DIR`
 * (a worker that dies leaves its journal to the live ones, as an instance
 * would).
 *
 * A worker that dies unexpectedly is replaced; more than `crashesMax` deaths
 * within `crashWindowMs` is a crash loop, and the primary stops. SIGTERM (or
 * SIGINT) is passed to every worker, each of which drains and closes; the
 * primary exits 0 once all have exited 0, and 1 if one failed or the
 * deadline (`SHUTDOWN_TIMEOUT_MS` plus a little) passed first.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from './config.js';
import { startMetricsServer } from './metrics.js';

const respawnDelayMs = 1_000;
const crashesMax = 5;
const crashWindowMs = 60_000;
/** Past the workers' own shutdown deadline, so that a worker that times out can say so itself. */
const shutdownGraceMs = 500;

const levels: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** Log lines in the workers' (pino's) shape, so that one parser reads both. */
function makeLog(level: string) {
  const threshold = levels[level] ?? (level === 'silent' ? Infinity : levels.info!);
  return (at: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown> = {}) => {
    if (levels[at]! < threshold) return;
    process.stdout.write(`${JSON.stringify({ level: levels[at], time: Date.now(), pid: process.pid, role: 'primary', ...fields, msg })}\n`);
  };
}

export async function runPrimary(config: Config): Promise<void> {
  const log = makeLog(config.logLevel);
  const aggregator = new AggregatorRegistry();
  const metrics =
    config.metricsPort === undefined
      ? undefined
      : await startMetricsServer(config.host, config.metricsPort, () => aggregator.clusterMetrics(), (error) =>
          log('error', 'metrics could not be gathered from the workers', { err: String(error) }),
        );

  let stopping = false;
  const crashes: number[] = [];
  const failedExits = new Set<number>();
  /** Workers that took requests; one still starting when shutdown begins has none to drain, and may just end. */
  const listening = new Set<number>();

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.on('listening', () => listening.add(worker.id));
    worker.on('exit', (code, signal) => {
      if (stopping) {
        if (code !== 0 && listening.has(worker.id)) failedExits.add(worker.id);
        return;
      }
      const nowMs = Date.now();
      crashes.push(nowMs);
      while (crashes.length > 0 && crashes[0]! < nowMs - crashWindowMs) crashes.shift();
      if (crashes.length > crashesMax) {
        log('error', 'workers keep dying: stopping', { crashes: crashes.length, windowMs: crashWindowMs });
        stop(1);
        return;
      }
      log('error', 'worker died; starting another', { workerPid: worker.process.pid, code, signal });
      setTimeout(() => {
        if (!stopping) fork();
      }, respawnDelayMs).unref();
    });
    return worker;
  };

  const stop = (failure: 0 | 1 = 0) => {
    if (stopping) return;
    stopping = true;
    if (failure !== 0) failedExits.add(-1);
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    log('info', 'shutting down the workers', { workers: workers.length });
    const deadline = setTimeout(() => {
      log('error', 'workers did not stop in time: killing them');
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownTimeoutMs + shutdownGraceMs);
    deadline.unref();
    const exited = workers.map((worker) =>
      worker.isDead() ? Promise.resolve() : new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    );
    for (const worker of workers) worker.process.kill('SIGTERM');
    void Promise.all(exited)
      .then(() => metrics?.close())
      .then(() => process.exit(failedExits.size === 0 ? 0 : 1));
  };
  process.on('SIGTERM', () => stop());
  process.on('SIGINT', () => stop());

  for (let i = 0; i < config.workers; i++) fork();
  log('info', 'primary started', { workers: config.workers, port: config.port, metricsPort: metrics?.port });
}
