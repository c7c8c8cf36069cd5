/**
 * Keyset pagination with opaque cursors (SPEC §3). A cursor is the position
 * after the last row served, signed with an HMAC so that a cursor the service
 * did not issue is refused with 400 instead of being trusted.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { Type, type Static } from 'typebox';
import type { Api } from './api.js';
import { validationError } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Signs and checks the cursors of every paged list. */
    cursors: CursorCodec;
  }
}

export const pageSizeDefault = 20;
export const pageSizeMax = 100;
const cursorLengthMax = 512;

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: pageSizeMax, default: pageSizeDefault })),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: cursorLengthMax })),
  },
  { additionalProperties: false },
);
export type PageQuery = Static<typeof PageQuery>;

export const NextCursor = Type.Union([Type.String(), Type.Null()]);

/** Past every real id: a newest-first list's first page starts below it. */
export const beforeAllIds = Number.MAX_SAFE_INTEGER;

/**
 * The page a route was asked for. Validation fills in the schema's default
 * (`pageSizeDefault`) before the handler runs, so `limit` is never missing here.
 */
export function pageRequest(query: { limit?: number; cursor?: string }): { limit: number; cursor: string | undefined } {
  assert.ok(query.limit !== undefined, 'PageQuery validation fills in limit');
  return { limit: query.limit, cursor: query.cursor };
}

export type CursorValue = string | number;

export class CursorCodec {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = createHmac('sha256', secret).update('pagination-cursor').digest();
  }

  #sign(body: string): Buffer {
    return createHmac('sha256', this.#key).update(body).digest().subarray(0, 16);
  }

  encode(scope: string, position: readonly CursorValue[]): string {
    const body = Buffer.from(JSON.stringify([scope, ...position])).toString('base64url');
    return `${body}.${this.#sign(body).toString('base64url')}`;
  }

  /** The position in a cursor issued for `scope`, or a 400 for anything else. */
  decode(scope: string, cursor: string, arity: number): CursorValue[] {
    const [body, signature, extra] = cursor.split('.');
    if (body === undefined || signature === undefined || extra !== undefined) throw badCursor();
    const expected = this.#sign(body);
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw badCursor();
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw badCursor();
    }
    if (!Array.isArray(parsed) || parsed[0] !== scope || parsed.length !== arity + 1) throw badCursor();
    const position = parsed.slice(1) as unknown[];
    if (!position.every((value) => typeof value === 'string' || typeof value === 'number')) throw badCursor();
    return position as CursorValue[];
  }

  /** The id a one-id cursor holds, or `firstPage` when there is none (the list's first page). */
  idOf(scope: string, cursor: string | undefined, firstPage: number): number {
    return cursor === undefined ? firstPage : Number(this.decode(scope, cursor, 1)[0]);
  }

  /**
   * Turns `limit + 1` fetched rows into one page and the cursor after it;
   * fetching one extra row tells whether another page exists.
   */
  page<R>(scope: string, rows: R[], limit: number, positionOf: (row: R) => CursorValue[]): { items: R[]; nextCursor: string | null } {
    if (rows.length <= limit) return { items: rows, nextCursor: null };
    const items = rows.slice(0, limit);
    return { items, nextCursor: this.encode(scope, positionOf(items[items.length - 1]!)) };
  }
}

function badCursor() {
  return validationError('유효하지 않은 커서입니다.');
}

export const pagination = fp(
  async (app: Api) => {
    app.decorate('cursors', new CursorCodec(app.config.jwtSecret));
  },
  { name: 'pagination', dependencies: ['core'] },
);
