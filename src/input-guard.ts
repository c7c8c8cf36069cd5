/**
 * Malformed input refused where it enters (SPEC §3), once for every route:
 *  - text PostgreSQL cannot store — a NUL character, or a lone UTF-16
 *    surrogate, which is not Unicode text at all — in a JSON body, a path or a
 *    query string is a 400 (inside a token it is a 401: see auth.ts);
 *  - a repeated `Idempotency-Key` header, which Node would join into one key
 *    "a, b", is a 400;
 *  - what Node's HTTP parser and Fastify's router refuse before any route runs
 *    (a NUL in a header, a broken request line, a bad percent-escape, an
 *    overlong path parameter) is answered in the service's own error shape.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { messages, validationError } from './errors.js';

declare global {
  interface String {
    /** Node 20 (ES2024): false when the string holds a lone surrogate. */
    isWellFormed(): boolean;
  }
}

export const unstorableTextMessage = '저장할 수 없는 문자(NUL 등)가 포함되어 있습니다.';
const repeatedKeyMessage = 'Idempotency-Key 헤더는 한 번만 보낼 수 있습니다.';
const timeoutMessage = '요청 시간이 초과되었습니다.';

export function isStorableText(text: string): boolean {
  return !text.includes('\0') && text.isWellFormed();
}

/**
 * True when some string in a parsed JSON value, key or value, is not storable.
 * Iterative: a body may nest ten thousand levels deep before the schema refuses it.
 */
export function holdsUnstorableText(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'string') {
      if (!isStorableText(item)) return true;
    } else if (Array.isArray(item)) {
      for (const element of item) stack.push(element);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, element] of Object.entries(item)) {
        if (!isStorableText(key)) return true;
        stack.push(element);
      }
    }
  }
  return false;
}

/** How many times a header was sent; Node joins most repeats, so only the raw list can tell. */
function headerCount(request: FastifyRequest, lowerName: string): number {
  const raw = request.raw.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) count++;
  return count;
}

/** Registers the body parser and the hook; call once on the root instance, before the routes. */
export function installInputGuards(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, body as string, (error: Error | null, value?: unknown) => {
      if (error !== null) return done(error, undefined);
      // JSON can only carry a NUL or a lone surrogate as a \u escape; text without one needs no walk.
      if ((body as string).includes('\\u') && holdsUnstorableText(value)) return done(validationError(unstorableTextMessage), undefined);
      done(null, value);
    });
  });

  // preValidation runs after authentication, so a request without a token still hears 401 first.
  app.addHook('preValidation', (request, _reply, done) => {
    // A path or query value decodes to NUL only from %00; a lone surrogate cannot come out of UTF-8 at all.
    if (request.raw.url!.includes('%00')) return done(validationError(unstorableTextMessage));
    const key = request.headers['idempotency-key'];
    if (Array.isArray(key)) return done(validationError(repeatedKeyMessage));
    if (key !== undefined) {
      // Only a value holding ", " can be two headers joined; the raw list decides.
      if (key.includes(', ') && headerCount(request, 'idempotency-key') > 1) return done(validationError(repeatedKeyMessage));
      // Real HTTP cannot carry a NUL in a header; an injected request can.
      if (!isStorableText(key)) return done(validationError(unstorableTextMessage));
    }
    done();
  });
}

function errorBody(code: string, message: string, details?: string): string {
  return JSON.stringify(details === undefined ? { code, message } : { code, message, details });
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the bytes (a NUL
 * or a control character in a header, an unknown method, a header section over
 * the limit) or the request timed out. The connection is closed afterwards, as
 * Node does.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const [status, reason] = timeout ? [408, 'Request Timeout'] : [400, 'Bad Request'];
  const body = timeout ? errorBody('REQUEST_TIMEOUT', timeoutMessage) : errorBody('VALIDATION_ERROR', messages.validation, error.code ?? 'malformed request');
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Fastify's `frameworkErrors`: the router refused the URL (a bad %-escape, an overlong parameter). */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  void reply.code(400).send({ code: 'VALIDATION_ERROR', message: messages.validation, details: error.message });
}
