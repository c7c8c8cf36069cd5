/**
 * A nats-server of a test's own (never the shared one on 4222), on a port of
 * the range kept for these tests and a store directory that survives a
 * restart, and a reader of everything its SHOP stream holds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { acceptsConnections } from './ports.js';

export type NatsServer = {
  readonly url: string;
  start(): Promise<void>;
  /** SIGKILL by default: the broker dies with no goodbye. */
  stop(signal?: NodeJS.Signals): Promise<void>;
};

export async function ownNatsServer(port: number): Promise<NatsServer> {
  if (port < 4230 || port > 4239) throw new Error('own nats-server ports are 4230-4239');
  const storeDir = await mkdtemp(join(tmpdir(), 'nats-store-'));
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    async start() {
      if (await acceptsConnections(port)) throw new Error(`port ${port} is taken`);
      const spawned = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: 'ignore' });
      child = spawned;
      exited = new Promise((resolve) => spawned.once('exit', () => resolve()));
      const deadline = Date.now() + 15_000;
      while (!(await acceptsConnections(port))) {
        if (Date.now() > deadline) throw new Error('nats-server did not start');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop(signal = 'SIGKILL') {
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
      child = undefined;
    },
  };
  process.on('exit', () => child?.kill('SIGKILL'));
  after(async () => {
    await server.stop();
    await rm(storeDir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}

export type StreamMessage = { subject: string; msgId: string | undefined; event: any };

/** Every message of the SHOP stream, in stream order. */
export async function readShopStream(url: string): Promise<StreamMessage[]> {
  const connection = await connect({ servers: url, timeout: 5_000 });
  try {
    const manager = await jetstreamManager(connection);
    const info = await manager.streams.info('SHOP');
    const messages: StreamMessage[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq += 1) {
      const message = await manager.streams.getMessage('SHOP', { seq });
      if (message === null) continue;
      messages.push({ subject: message.subject, msgId: message.header?.get('Nats-Msg-Id'), event: message.json() });
    }
    return messages;
  } finally {
    await connection.close();
  }
}
