/**
 * Graceful shutdown of one serving process (SPEC §2), used by server.ts and
 * by every worker process alike.
 *
 * On the signal the process stops accepting connections, answers what is in
 * flight with `Connection: close`, closes idle keep-alive connections within
 * two sweeps (every 100 ms, also those that fall idle later), and answers
 * a request that still arrives on an open connection with `503
 * SERVICE_UNAVAILABLE` + `Retry-After` in the service's error shape, so no
 * client meets a reset. Once the last connection is gone, Fastify's onClose
 * hooks stop the recovery worker, close the journal (waiting for its last
 * fsync) and the database. In-flight requests hold the batchers' promises, so
 * the batchers are empty by then.
 */
import type { FastifyInstance } from 'fastify';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

declare module 'fastify' {
  interface FastifyInstance {
    shutdownGate: ShutdownGate;
  }
}

const shuttingDownMessage = '서버가 종료 중입니다. 잠시 후 다른 서버로 다시 시도해 주세요.';
/** How often connections that fell idle after the signal are closed. */
const idleSweepIntervalMs = 100;
/** Connections still open this long before the deadline are cut, so the onClose hooks get their turn. */
const forceCloseMarginMs = 2_000;

/** Whether this process is shutting down; read by the hooks on every request. */
export class ShutdownGate {
  #closing = false;

  get closing(): boolean {
    return this.#closing;
  }

  close(): void {
    this.#closing = true;
  }
}

/** Registers the gate's hooks; call on the root instance before any route, so it answers before authentication. */
export function installShutdownGate(app: FastifyInstance): void {
  const gate = new ShutdownGate();
  app.decorate('shutdownGate', gate);
  app.addHook('onRequest', (_request, reply, done) => {
    if (!gate.closing) return done();
    void reply
      .code(503)
      .header('retry-after', '1')
      .header('connection', 'close')
      .send({ code: 'SERVICE_UNAVAILABLE', message: shuttingDownMessage });
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (gate.closing) reply.header('connection', 'close');
    done(null, payload);
  });
}

type ConnectionsList = { idle(): Array<{ socket: Socket & { _httpMessage?: { finished: boolean } | null } }> };

/**
 * Node's own `closeIdleConnections` (which `server.close()` calls) destroys
 * every connection with no request in progress, including one whose next
 * request is already in the kernel's buffer, unread because the event loop
 * was busy: its client meets a reset. This sweep closes a connection only
 * when it was idle at the previous sweep too and read nothing since, and it
 * decides after a poll phase, so bytes that arrived have been read. It reads
 * the server's list of connections the way `closeIdleConnections` does, and
 * falls back to that method where the list is not there.
 */
function makeIdleSweep(server: Server): () => void {
  const kConnections = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'http.server.connections');
  const original = server.closeIdleConnections.bind(server);
  const readAtLastSweep = new WeakMap<Socket, number>();
  return () => {
    const connections = kConnections === undefined ? undefined : (server as unknown as Record<symbol, ConnectionsList | undefined>)[kConnections];
    if (connections === undefined) return original();
    for (const { socket } of connections.idle()) {
      if (socket._httpMessage != null && !socket._httpMessage.finished) continue;
      if (readAtLastSweep.get(socket) === socket.bytesRead) socket.destroy();
      else readAtLastSweep.set(socket, socket.bytesRead);
    }
  };
}

/**
 * Shuts the app down; resolves with the exit code: 0 once everything closed,
 * 1 when `timeoutMs` passed first (the caller exits either way).
 */
export async function shutDown(app: FastifyInstance, timeoutMs: number): Promise<number> {
  // Requests whose bytes had arrived when the signal did are parsed in this
  // turn of the event loop; they are served, not refused.
  await new Promise((resolve) => setImmediate(resolve));
  app.shutdownGate.close();
  const server = app.server;
  const sweepIdle = makeIdleSweep(server);
  server.closeIdleConnections = sweepIdle;
  // From a timer to the next check phase: the poll phase between reads whatever arrived.
  const sweep = setInterval(() => setImmediate(sweepIdle), idleSweepIntervalMs);
  const force = setTimeout(() => {
    app.log.warn('connections still open near the shutdown deadline; closing them');
    server.closeAllConnections();
  }, Math.max(0, timeoutMs - forceCloseMarginMs));
  let deadline: NodeJS.Timeout | undefined;
  try {
    const closed = app.close().then(() => 0);
    const late = new Promise<number>((resolve) => {
      deadline = setTimeout(() => {
        app.log.error('shutdown timed out');
        resolve(1);
      }, timeoutMs);
    });
    return await Promise.race([closed, late]);
  } catch (error) {
    app.log.error({ err: error }, 'error while shutting down');
    return 1;
  } finally {
    clearInterval(sweep);
    clearTimeout(force);
    clearTimeout(deadline);
  }
}
