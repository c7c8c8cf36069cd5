/**
 * The events part of the bench: a nats-server of the bench's own (port and
 * store directory of its own, removed afterwards), the outbox's state after
 * a scenario, and the relay lag read back from the stream: for each message,
 * the time JetStream stored it minus the event's `time` (the transaction's
 * start, a few milliseconds before its commit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type pg from 'pg';
import { acceptsConnections } from '../test/support/ports.js';

export const benchNatsPort = 4233;

export type BenchNats = { url: string; stop(): Promise<void> };

export async function startBenchNats(): Promise<BenchNats> {
  if (await acceptsConnections(benchNatsPort)) throw new Error(`port ${benchNatsPort} (the bench's nats-server) is taken`);
  const store = mkdtempSync(join(tmpdir(), 'bench-nats-'));
  const child: ChildProcess = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(benchNatsPort), '-sd', store], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await acceptsConnections(benchNatsPort))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('nats-server did not start (is it installed?)');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `nats://127.0.0.1:${benchNatsPort}`,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(store, { recursive: true, force: true });
    },
  };
}

export async function outboxNote(db: pg.Pool): Promise<string> {
  const { rows } = await db.query<{ unrelayed: number; total: number }>(
    `SELECT (SELECT count(*) FROM outbox_unrelayed)::int AS unrelayed, count(*)::int AS total FROM outbox`,
  );
  return `outbox at the end: ${rows[0]!.unrelayed} rows unrelayed, ${rows[0]!.total} rows in all`;
}

export async function unrelayedEvents(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox_unrelayed`);
  return rows[0]!.n;
}

/** Waits until the outbox holds nothing unrelayed (the relay-off scenarios leave a backlog). */
export async function waitOutboxDrained(db: pg.Pool, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waiting = await unrelayedEvents(db);
    if (waiting === 0) return;
    if (Date.now() > deadline) throw new Error(`outbox still holds ${waiting} unrelayed rows after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function lastStreamSeq(url: string): Promise<number> {
  const connection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    const info = await manager.streams.info('SHOP').catch(() => undefined);
    return info?.state.last_seq ?? 0;
  } finally {
    await connection.close();
  }
}

export type Lag = { events: number; p50Ms: number; p99Ms: number; maxMs: number };

/** The lag of every message stored after `afterSeq`. */
export async function readLag(url: string, afterSeq: number): Promise<Lag> {
  const connection = await connect({ servers: url });
  try {
    const manager = await jetstreamManager(connection);
    const last = (await manager.streams.info('SHOP')).state.last_seq;
    const lags: number[] = [];
    if (last > afterSeq) {
      const consumer = await jetstream(connection).consumers.get('SHOP', {
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: afterSeq + 1,
      });
      const messages = await consumer.consume({ max_messages: 1_000 });
      for await (const message of messages) {
        const storedMs = Number(message.timestampNanos / 1_000_000n);
        lags.push(storedMs - Date.parse(message.json<{ time: string }>().time));
        if (message.seq >= last) break;
      }
    }
    lags.sort((a, b) => a - b);
    const at = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? 0;
    return { events: lags.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: lags.at(-1) ?? 0 };
  } finally {
    await connection.close();
  }
}
