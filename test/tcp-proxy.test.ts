/**
 * The fault proxy itself, against the real PostgreSQL. It runs on both test
 * sides: it only needs the server at TEST_PG_URL, which is always there.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const adminUrl = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const target = new URL(adminUrl);
const clients = new Set<pg.Client>();
const proxies = new Set<TcpProxy>();

after(async () => {
  for (const client of clients) client.connection.stream.destroy();
  for (const proxy of proxies) await proxy.close();
});

async function proxy(): Promise<TcpProxy> {
  const started = await startTcpProxy({ targetHost: target.hostname, targetPort: Number(target.port || 5432) });
  proxies.add(started);
  return started;
}

/** A client whose connection errors are recorded instead of crashing the test process. */
async function connect(url: string, options: Partial<pg.ClientConfig> = {}): Promise<{ client: pg.Client; errors: Error[] }> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, ...options });
  const errors: Error[] = [];
  client.on('error', (error) => errors.push(error));
  clients.add(client);
  await client.connect();
  return { client, errors };
}

async function selectOne(url: string): Promise<number> {
  const { client } = await connect(url);
  try {
    const { rows } = await client.query<{ n: number }>('SELECT 1 + 1 AS n');
    return rows[0]!.n;
  } finally {
    await client.end();
    clients.delete(client);
  }
}

/** Waits (bounded) until the server is running a statement for this application name. */
async function waitUntilRunning(applicationName: string): Promise<void> {
  const { client: watcher } = await connect(adminUrl);
  try {
    for (let attempt = 0; attempt < 200; attempt++) {
      const { rows } = await watcher.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'", [applicationName]);
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no active statement for ${applicationName}`);
  } finally {
    await watcher.end();
    clients.delete(watcher);
  }
}

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;
}

describe('tcp proxy in front of PostgreSQL', () => {
  it('passes traffic through and counts connections', async () => {
    const p = await proxy();
    assert.equal(await selectOne(p.url(adminUrl)), 2);
    const { client } = await connect(p.url(adminUrl));
    assert.deepEqual(p.stats, { accepted: 2, open: 1 });
    await client.end();
    assert.equal(new URL(p.url(adminUrl)).port, String(p.port));
    assert.equal(new URL(p.url(adminUrl)).pathname, target.pathname);
  });

  it('cut() fails an in-flight statement; a new connection then works', async () => {
    const p = await proxy();
    const applicationName = `proxy-cut-${randomUUID().slice(0, 8)}`;
    const { client, errors } = await connect(p.url(adminUrl), { application_name: applicationName });
    // Settled at once so its rejection is never 'unhandled' while the cut is awaited.
    const sleeping = client.query('SELECT pg_sleep(1)').then(() => undefined, (error: Error) => error);
    await waitUntilRunning(applicationName);
    await p.cut();
    assert.ok((await sleeping) instanceof Error);
    assert.ok(errors.length <= 1);
    assert.equal(p.stats.open, 0);
    assert.equal(await selectOne(p.url(adminUrl)), 2);
  });

  it('blackhole() makes a statement hang until the client deadline; restore() recovers', async () => {
    const p = await proxy();
    const { client } = await connect(p.url(adminUrl));
    p.blackhole();
    await assert.rejects(client.query({ text: 'SELECT 1', query_timeout: 300 } as pg.QueryConfig), /Query read timeout/);
    // New connections are accepted but their startup goes nowhere either.
    await assert.rejects(connect(p.url(adminUrl), { connectionTimeoutMillis: 300 }), /timeout/i);
    assert.equal(p.stats.open, 2);
    await p.restore();
    assert.equal(await selectOne(p.url(adminUrl)), 2);
    // The old session lost bytes, so it is only fit to be closed; its Terminate now gets through.
    await client.end();
  });

  it('dropAnswers() lets a statement commit while its client never hears the answer', async () => {
    const p = await proxy();
    const table = `proxy_drop_${randomUUID().replaceAll('-', '')}`;
    const { client: direct } = await connect(adminUrl);
    await direct.query(`CREATE TABLE ${table} (n int)`);
    try {
      const { client } = await connect(p.url(adminUrl));
      p.dropAnswers();
      await assert.rejects(client.query({ text: `INSERT INTO ${table} VALUES (1)`, query_timeout: 500 } as pg.QueryConfig), /Query read timeout/);
      const { rows } = await direct.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      assert.equal(rows[0]!.n, 1, 'the statement committed');
      await p.restore();
      assert.equal(await selectOne(p.url(adminUrl)), 2);
      await client.end();
    } finally {
      await direct.query(`DROP TABLE ${table}`);
      await direct.end();
      clients.delete(direct);
    }
  });

  it('refuse() refuses new connections and drops existing ones; restore() listens on the same port', async () => {
    const p = await proxy();
    const port = p.port;
    const { client, errors } = await connect(p.url(adminUrl));
    await p.refuse();
    await assert.rejects(client.query('SELECT 1'));
    assert.ok(errors.length <= 1);
    await assert.rejects(connect(p.url(adminUrl)), (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED');
    await p.restore();
    assert.equal(p.port, port);
    assert.equal(await selectOne(p.url(adminUrl)), 2);
  });

  it('close() destroys everything and leaves no TCP handle behind', async () => {
    const before = tcpHandles();
    const p = await proxy();
    const { client } = await connect(p.url(adminUrl));
    p.blackhole();
    const hanging = client.query('SELECT 1').catch((error: Error) => error);
    await p.close();
    assert.ok((await hanging) instanceof Error);
    clients.delete(client);
    // The client's own socket is gone too (the proxy reset it), so only the count from before remains.
    // libuv frees a closed handle a moment after its 'close' event, so this waits (bounded) for it.
    for (let attempt = 0; attempt < 100 && tcpHandles() > before; attempt++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(tcpHandles(), before, process.getActiveResourcesInfo().join());
    const refused = await new Promise<string | undefined>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: p.port });
      socket.on('connect', () => resolve(socket.destroy() && undefined));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code));
    });
    assert.equal(refused, 'ECONNREFUSED');
  });
});
