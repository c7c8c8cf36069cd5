/**
 * HTTP/1.1 over a bare socket, for requests no well-behaved client will send
 * (a NUL in a header, a repeated header, an unknown method) and for holding a
 * request half sent. Answers are parsed just enough: status, headers, body.
 */
import net from 'node:net';

export type RawAnswer = { status: number; headers: Record<string, string>; body: any; text: string };

/** Parses one answer from the bytes a server sent; undefined while incomplete. */
export function parseAnswer(bytes: Buffer): { answer: RawAnswer; rest: Buffer } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (bytes.length < end + 4 + length) return undefined;
  const text = bytes.subarray(end + 4, end + 4 + length).toString('utf8');
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { answer: { status: Number(statusLine!.split(' ')[1]), headers, body, text }, rest: bytes.subarray(end + 4 + length) };
}

/** A connection that sends what it is given and hands back answers in order. */
export class RawConnection {
  readonly socket: net.Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: Array<{ resolve: (answer: RawAnswer) => void; reject: (error: Error) => void }> = [];
  #closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      for (let parsed = parseAnswer(this.#buffer); parsed !== undefined && this.#waiting.length > 0; parsed = parseAnswer(this.#buffer)) {
        this.#buffer = parsed.rest;
        this.#waiting.shift()!.resolve(parsed.answer);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
      for (const waiter of this.#waiting.splice(0)) waiter.reject(new Error('connection closed before an answer'));
    });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next answer on this connection, or a rejection when it closes first or the deadline passes. */
  next(timeoutMs = 15_000): Promise<RawAnswer> {
    const parsed = parseAnswer(this.#buffer);
    if (parsed !== undefined) {
      this.#buffer = parsed.rest;
      return Promise.resolve(parsed.answer);
    }
    if (this.#closed) return Promise.reject(new Error('connection closed before an answer'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.#waiting.push({
        resolve: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /** Resolves once the server has closed the connection. */
  whenClosed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One request on its own connection (closed afterwards). */
export async function rawRequest(port: number, data: string | Buffer, timeoutMs = 15_000): Promise<RawAnswer> {
  const connection = await RawConnection.open(port);
  try {
    connection.write(data);
    return await connection.next(timeoutMs);
  } finally {
    connection.destroy();
  }
}

/** The text of a request with a JSON body; `body` as a string is sent as is. */
export function requestText(method: string, path: string, headers: Record<string, string>, body?: unknown): string {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== undefined) {
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) lines.push('Content-Type: application/json');
    lines.push(`Content-Length: ${Buffer.byteLength(payload)}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n${payload}`;
}
