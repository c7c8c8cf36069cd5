/**
 * Plumbing for the tests of how the service is operated: a Redis server of a
 * test's own (never the shared one on 6379), the Prometheus text of
 * `/metrics` read into numbers, and a small shop set up through the API of a
 * service child process (whose embedded database the test cannot reach).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Authenticator } from '../../src/auth.js';
import { acceptsConnections } from './ports.js';

export type RedisServer = { url: string; port: number; stop(): Promise<void> };

const redisReadyTimeoutMs = 10_000;

/** A redis-server on `port` with nothing on disk; `stop()` kills it (SIGKILL) and removes its directory. */
export async function startRedis(port: number): Promise<RedisServer> {
  assert.notEqual(port, 6379, 'never the shared Redis');
  assert.equal(await acceptsConnections(port), false, `port ${port} is taken`);
  const dir = await mkdtemp(join(tmpdir(), 'test-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + redisReadyTimeoutMs;
  while (!(await acceptsConnections(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server on ${port} did not start`);
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export type Sample = { name: string; labels: Record<string, string>; value: number };

/** The Prometheus text format, read line by line (no escapes in our label values). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of a metric's samples whose labels include `labels`. */
export function sampleValue(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

export async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return parseMetrics(await response.text());
}

/**
 * Ports of this workplace's range for what a test starts itself (metrics,
 * Redis): each file names its own, and the PostgreSQL side of the suite adds
 * an offset so that nothing left of the embedded side's run can be in the way.
 */
export function ownPort(base: number): number {
  assert.ok((base >= 7300 && base < 7350) || (base >= 6391 && base <= 6394), `port ${base} is outside this suite's ranges`);
  const offset = process.env.TEST_DB === 'postgres' ? (base >= 7300 ? 50 : 4) : 0;
  return base + offset;
}

type Json = any;

export async function api(url: string, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const response = await fetch(url + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: Json = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Keep the text.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

export function tokenHeader(auth: Authenticator, userId: string, admin = false): Record<string, string> {
  return { authorization: `Bearer ${auth.sign(userId, { admin })}` };
}

/** A product created through the admin API; its id. */
export async function createProduct(url: string, auth: Authenticator, price: number, stock: number): Promise<number> {
  const response = await api(url, 'POST', '/api/admin/products', tokenHeader(auth, 'ops-admin', true), { name: '운영 테스트 상품', price, stock });
  assert.equal(response.status, 201, JSON.stringify(response.body));
  return response.body.product.id;
}

/** Charges `amount` (a multiple of 100,000 at most per call) to the user's wallet through the API. */
export async function fund(url: string, auth: Authenticator, userId: string, amount: number): Promise<void> {
  for (let left = amount; left > 0; left -= 100_000) {
    const response = await api(url, 'POST', '/api/points/charge', tokenHeader(auth, userId), { amount: Math.min(left, 100_000) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  }
}
