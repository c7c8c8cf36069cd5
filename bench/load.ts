/**
 * The load generator: wrk with `wrk/generator.lua`, one wrk process (one
 * thread) per service instance, connections split evenly, all in parallel.
 * Prints a live progress line once a second; count-bounded runs are stopped
 * (SIGINT, which makes wrk report) as soon as every real answer is in.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { rootDir } from './proc.js';

export type LoadSpec = {
  label: string;
  kind: 'hello' | 'product' | 'list' | 'popular' | 'order' | 'flash' | 'flashmulti' | 'coupon' | 'charge';
  ports: readonly number[];
  clients: number;
  durationS: number;
  /** Total real requests across every wrk process; the run then ends when all are answered. */
  attempts?: number;
  /** Extra generator arguments (tokens, coupons, lo, hi, product, code). */
  args?: Record<string, string | number>;
};

export type LoadResult = {
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  answers: number;
  statuses: Record<string, number>;
  /** Answers other than 2xx plus socket errors and timeouts. */
  errors: number;
  durationS: number;
  /** From the first 410 answer on (a coupon burst once sold out), when there was one. */
  soldOut?: { throughput: number; answers: number; durationS: number };
};

type WrkResult = {
  durationUs: number; activeUs: number; requests: number; p50Us: number; p99Us: number;
  /** Wall-clock µs of the first request and the last real answer; of the first 410, and the answers from it on. */
  firstUs: number; lastUs: number; goneUs: number; afterGone: number;
  socketErrors: number; statuses: Record<string, number>;
};

/** Throughput from the first 410 of any wrk process to the last answer of all. */
function soldOutFigure(results: readonly WrkResult[]): LoadResult['soldOut'] {
  const gone = results.filter((r) => r.goneUs > 0);
  if (gone.length === 0) return undefined;
  const answers = gone.reduce((a, r) => a + r.afterGone, 0);
  const durationUs = Math.max(1, Math.max(...results.map((r) => r.lastUs)) - Math.min(...gone.map((r) => r.goneUs)));
  return { throughput: answers / (durationUs / 1e6), answers, durationS: durationUs / 1e6 };
}

const script = join(rootDir, 'bench/wrk/generator.lua');
let runCounter = 0;

function runWrk(spec: LoadSpec, index: number, tmpDir: string, tag: string): { done: Promise<WrkResult>; interrupt: () => void } {
  const clients = Math.max(1, Math.round(spec.clients / spec.ports.length));
  const deadlineS = spec.durationS;
  const args = [
    '-t1', `-c${clients}`, `-d${deadlineS}s`, '--timeout', '10s', '-s', script, `http://127.0.0.1:${spec.ports[index]}`, '--',
    `kind=${spec.kind}`, `tag=${tag}`, `proc=${index}`, `procs=${spec.ports.length}`, 'threads=1',
    `attempts=${spec.attempts ?? 0}`, `progress=${join(tmpDir, 'progress')}`, `seed=${runCounter}`,
    ...Object.entries(spec.args ?? {}).map(([key, value]) => `${key}=${value}`),
  ];
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const done = new Promise<WrkResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (line === undefined) reject(new Error(`wrk gave no result for ${spec.label}:\n${out}`));
      else resolve(JSON.parse(line.slice('BENCH_RESULT '.length)) as WrkResult);
    });
  });
  return { done, interrupt: () => child.kill('SIGINT') };
}

function readProgress(tmpDir: string, threads: number): { answers: number; finished: boolean[] } {
  let answers = 0;
  const finished: boolean[] = [];
  for (let i = 0; i < threads; i++) {
    let text = '';
    try {
      text = readFileSync(join(tmpDir, `progress-${i}`), 'utf8');
    } catch {
      // Not written yet.
    }
    answers += Number.parseInt(text, 10) || 0;
    finished.push(text.endsWith(' done'));
  }
  return { answers, finished };
}

function merge(results: readonly WrkResult[], countBounded: boolean): LoadResult {
  const statuses: Record<string, number> = {};
  for (const result of results) {
    for (const [code, n] of Object.entries(result.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  }
  const answers = Object.values(statuses).reduce((a, b) => a + b, 0);
  const durationUs = Math.max(...results.map((r) => (countBounded ? r.activeUs : r.durationUs)), 1);
  const non2xx = Object.entries(statuses).filter(([code]) => !code.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  // Percentiles of separate wrk processes cannot be merged exactly: p50 is the
  // answer-weighted mean, p99 the worst one (the conservative choice).
  const weight = (r: WrkResult) => Object.values(r.statuses).reduce((a, b) => a + b, 0);
  const p50Us = results.reduce((a, r) => a + r.p50Us * weight(r), 0) / Math.max(answers, 1);
  return {
    throughput: answers / (durationUs / 1e6),
    p50Ms: p50Us / 1000,
    p99Ms: Math.max(...results.map((r) => r.p99Us)) / 1000,
    answers,
    statuses,
    errors: non2xx + results.reduce((a, r) => a + r.socketErrors, 0),
    durationS: durationUs / 1e6,
    soldOut: soldOutFigure(results),
  };
}

export async function runLoad(spec: LoadSpec, tmpRoot: string): Promise<LoadResult> {
  runCounter += 1;
  const tmpDir = join(tmpRoot, `load-${runCounter}`);
  rmSync(tmpDir, { recursive: true, force: true });
  mkdirSync(tmpDir, { recursive: true });
  const tag = `b${Date.now().toString(36)}${runCounter}`;
  const runs = spec.ports.map((_, index) => runWrk(spec, index, tmpDir, tag));
  const started = Date.now();
  const interrupted = new Set<number>();
  const timer = setInterval(() => {
    const { answers, finished } = readProgress(tmpDir, runs.length);
    const elapsedS = ((Date.now() - started) / 1000).toFixed(0);
    // One rewritten line on a terminal, one line a second in a log.
    const line = `  ${spec.label}: ${elapsedS}s, ${answers} answers`;
    process.stdout.write(process.stdout.isTTY ? `\r${line.padEnd(72)}` : `${line}\n`);
    if (spec.attempts === undefined) return;
    finished.forEach((isDone, index) => {
      if (isDone && !interrupted.has(index)) {
        interrupted.add(index);
        runs[index]!.interrupt();
      }
    });
  }, 1000);
  try {
    const results = await Promise.all(runs.map((r) => r.done));
    return merge(results, spec.attempts !== undefined);
  } finally {
    clearInterval(timer);
    if (process.stdout.isTTY) process.stdout.write(`${'\r'.padEnd(74)}\r`);
    rmSync(tmpDir, { recursive: true, force: true });
  }
}
