/**
 * A real HTTP receiver for webhook tests, on 127.0.0.1 in the port range
 * kept for them. It records every request it answers 2xx to, and answers as
 * the test's `behaviour` says: 2xx, an error status, or no answer at all
 * (the sender's deadline cuts it).
 */
import http from 'node:http';
import { after } from 'node:test';

export type Received = { headers: Record<string, string>; body: string; event: any };
export type Behaviour = (attempt: { body: string; count: number }) => number | 'hang';

const portFirst = 7200;
const portLast = 7299;

export type Receiver = {
  readonly url: string;
  /** Bodies answered 2xx, in the order they were answered. */
  readonly delivered: Received[];
  /** Every request that reached the receiver, whatever it answered. */
  requests: number;
  behaviour: Behaviour;
  close(): Promise<void>;
};

async function listenInRange(server: http.Server): Promise<number> {
  const start = portFirst + Math.floor(Math.random() * (portLast - portFirst + 1));
  for (let i = 0; i <= portLast - portFirst; i += 1) {
    const port = portFirst + ((start - portFirst + i) % (portLast - portFirst + 1));
    const bound = await new Promise<boolean>((resolve) => {
      const onError = () => resolve(false);
      server.once('error', onError);
      server.listen({ port, host: '127.0.0.1' }, () => {
        server.off('error', onError);
        resolve(true);
      });
    });
    if (bound) return port;
  }
  throw new Error(`no free port in ${portFirst}-${portLast}`);
}

export async function startReceiver(behaviour: Behaviour = () => 204): Promise<Receiver> {
  const hanging = new Set<http.ServerResponse>();
  const receiver = {
    url: '',
    delivered: [] as Received[],
    requests: 0,
    behaviour,
    close: async () => {},
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      receiver.requests += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = receiver.behaviour({ body, count: receiver.requests });
      if (answer === 'hang') {
        hanging.add(response);
        response.on('close', () => hanging.delete(response));
        return;
      }
      if (answer >= 200 && answer < 300) {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
        receiver.delivered.push({ headers, body, event: JSON.parse(body) });
      }
      response.writeHead(answer).end();
    });
  });
  const port = await listenInRange(server);
  receiver.url = `http://127.0.0.1:${port}/hook`;
  let closed = false;
  receiver.close = async () => {
    if (closed) return;
    closed = true;
    for (const response of hanging) response.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  after(() => receiver.close());
  return receiver;
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
