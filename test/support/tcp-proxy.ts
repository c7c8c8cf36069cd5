/**
 * A TCP proxy between the service and PostgreSQL that a test controls, so
 * faults are real network faults: connections cut mid-statement, a peer that
 * stops answering, a port that refuses. Data is relayed by hand rather than
 * piped because a blackhole must read and drop bytes, not buffer them.
 */
import net, { type AddressInfo, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'blackhole' | 'drop-answers' | 'refuse' | 'closed';

export type ProxyStats = Readonly<{ accepted: number; open: number }>;

export type TcpProxy = {
  readonly port: number;
  readonly mode: ProxyMode;
  readonly stats: ProxyStats;
  /** The same postgres URL, pointed at the proxy. */
  url(databaseUrl: string): string;
  /** Destroys every current connection on both sides at once; new ones still work. Resolves when they are closed. */
  cut(): Promise<void>;
  /** Keeps accepting and keeps connections open, but drops every byte both ways until restored. */
  blackhole(): void;
  /**
   * Passes the service's bytes on but drops the database's answers until
   * restored: statements run and commit, and the service never hears so.
   */
  dropAnswers(): void;
  /** Stops listening (new connections get ECONNREFUSED) and destroys existing ones. */
  refuse(): Promise<void>;
  /** Back to forwarding, listening again on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
};

export type ProxyOptions = { targetHost?: string; targetPort: number; listenHost?: string };

/** One accepted connection and its upstream twin. */
type Link = {
  client: Socket;
  upstream: Socket;
  /** Ends and closes that arrived while blackholed, replayed on restore like a late FIN. */
  deferred: Array<() => void>;
};

export async function startTcpProxy(options: ProxyOptions): Promise<TcpProxy> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  const listenHost = options.listenHost ?? '127.0.0.1';
  const links = new Set<Link>();
  let mode: ProxyMode = 'forward';
  let accepted = 0;
  let server: Server | undefined;
  let port = 0;

  const forwarding = () => mode === 'forward';

  function relay(link: Link, from: Socket, to: Socket): void {
    const answers = from === link.upstream;
    const passes = () => forwarding() || (mode === 'drop-answers' && !answers);
    from.on('data', (chunk: Buffer) => {
      if (!passes() || to.destroyed) return;
      // Respect backpressure so a fast side cannot grow the proxy's memory without bound.
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => passOn(link, passes, () => to.end()));
    from.on('close', () => {
      passOn(link, passes, () => to.destroy());
      if (link.client.destroyed && link.upstream.destroyed) links.delete(link);
    });
    // Resets and refusals are the point of this proxy: they end the link, never the test.
    from.on('error', () => {});
  }

  function passOn(link: Link, passes: () => boolean, action: () => void): void {
    if (passes()) action();
    else if (mode === 'blackhole' || mode === 'drop-answers') link.deferred.push(action);
  }

  function onConnection(client: Socket): void {
    accepted += 1;
    const upstream = net.connect({ host: targetHost, port: options.targetPort, allowHalfOpen: true });
    const link: Link = { client, upstream, deferred: [] };
    links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    relay(link, client, upstream);
    relay(link, upstream, client);
  }

  /** Resolves once every socket has really closed, so no handle outlives the call. */
  function destroyAll(): Promise<void> {
    const closing: Array<Promise<void>> = [];
    for (const link of links) {
      for (const socket of [link.client, link.upstream]) {
        if (!socket.closed) closing.push(new Promise((resolve) => socket.once('close', () => resolve())));
        socket.destroy();
      }
    }
    links.clear();
    return Promise.all(closing).then(() => undefined);
  }

  async function listen(): Promise<void> {
    // allowHalfOpen: a client's FIN is passed on as a FIN, so the server can still answer.
    const next = net.createServer({ allowHalfOpen: true }, onConnection);
    await new Promise<void>((resolve, reject) => {
      next.once('error', reject);
      next.listen({ port, host: listenHost }, () => {
        next.off('error', reject);
        resolve();
      });
    });
    next.on('error', () => {});
    port = (next.address() as AddressInfo).port;
    server = next;
  }

  async function stopListening(): Promise<void> {
    const current = server;
    server = undefined;
    // close() waits for open connections, so they are destroyed first.
    const closed = current === undefined ? undefined : new Promise<void>((resolve) => current.close(() => resolve()));
    await destroyAll();
    await closed;
  }

  await listen();

  return {
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    get stats() {
      let open = 0;
      for (const link of links) if (!link.client.destroyed) open += 1;
      return { accepted, open };
    },
    url(databaseUrl: string): string {
      const url = new URL(databaseUrl);
      url.hostname = listenHost;
      url.port = String(port);
      return url.toString();
    },
    cut(): Promise<void> {
      return destroyAll();
    },
    blackhole(): void {
      if (mode === 'closed') throw new Error('proxy is closed');
      if (mode === 'forward') mode = 'blackhole';
    },
    dropAnswers(): void {
      if (mode === 'closed') throw new Error('proxy is closed');
      if (mode === 'forward') mode = 'drop-answers';
    },
    async refuse(): Promise<void> {
      if (mode === 'closed') throw new Error('proxy is closed');
      mode = 'refuse';
      await stopListening();
    },
    async restore(): Promise<void> {
      if (mode === 'closed') throw new Error('proxy is closed');
      if (server === undefined) await listen();
      mode = 'forward';
      for (const link of links) for (const action of link.deferred.splice(0)) action();
    },
    async close(): Promise<void> {
      mode = 'closed';
      await stopListening();
    },
  };
}
