/**
 * Bearer tokens (SPEC §3): HS256 only, `exp` required, `sub` is the user id
 * (1–64 characters), `role: "admin"` grants the admin routes.
 */
import { createSigner, createVerifier } from 'fast-jwt';
import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import fp from 'fastify-plugin';
import type { Api } from './api.js';
import { AppError, messages } from './errors.js';
import { isStorableText } from './input-guard.js';
import { cacheLookups } from './metrics.js';

export type Principal = Readonly<{ userId: string; admin: boolean }>;

declare module 'fastify' {
  interface FastifyInstance {
    /** The onRequest hook of every /api route (src/api.ts): sets `request.principal`, or answers 401. */
    authenticate: onRequestHookHandler;
    /** An onRequest hook for admin-only routes; runs after authentication. */
    requireAdmin: (request: FastifyRequest) => Promise<void>;
  }
  interface FastifyRequest {
    /** Set by the authentication hook on every /api route. */
    principal: Principal;
  }
}

type CachedPrincipal = { principal: Principal; expiresAtMs: number };

// Verified tokens are remembered until they expire, so a client that sends the
// same token on every call pays for one HMAC, not one per request.
const cacheSizeMax = 100_000;

export class Authenticator {
  readonly #secret: string;
  /** Synchronous HMAC through node:crypto: a few microseconds, where WebCrypto's asynchronous job took tens. */
  readonly #verify: (token: string) => Record<string, unknown>;
  readonly #cache = new Map<string, CachedPrincipal>();

  constructor(secret: string) {
    this.#secret = secret;
    this.#verify = createVerifier({ key: secret, algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
  }

  authenticate(header: string | undefined, nowMs = Date.now()): Principal {
    if (header === undefined || !isBearer(header)) throw unauthorized();
    const token = header.slice(7);
    // A cached token passed every check below when it was first seen.
    const cached = this.#cache.get(token);
    if (cached !== undefined && cached.expiresAtMs > nowMs) {
      cacheLookups.token.hit++;
      return cached.principal;
    }
    cacheLookups.token.miss++;
    if (!/^[A-Za-z0-9_\-.]{1,4096}$/.test(token)) throw unauthorized();

    let payload;
    try {
      payload = this.#verify(token);
    } catch {
      throw unauthorized();
    }
    const { sub, role, exp } = payload;
    if (typeof sub !== 'string' || sub.length < 1 || sub.length > 64 || typeof exp !== 'number' || exp * 1000 <= nowMs) throw unauthorized();
    // A user id the database could not store is no user: a validly signed token can still carry one.
    if (!isStorableText(sub)) throw unauthorized();
    const principal: Principal = Object.freeze({ userId: sub, admin: role === 'admin' });
    if (this.#cache.size >= cacheSizeMax) this.#cache.clear();
    this.#cache.set(token, { principal, expiresAtMs: exp * 1000 });
    return principal;
  }

  /** `expiresIn` as a duration: '90s', '15m', '1h', '7d'. */
  sign(userId: string, options: { admin?: boolean; expiresIn?: string } = {}): string {
    const sign = createSigner({ key: this.#secret, algorithm: 'HS256', expiresIn: options.expiresIn ?? '1h' });
    return sign({ sub: userId, ...(options.admin === true ? { role: 'admin' } : {}) });
  }
}

/** `Bearer ` with the scheme in any case (RFC 7235 §2.1), then the token. */
function isBearer(header: string): boolean {
  return header.startsWith('Bearer ') || (header.length > 7 && header.charCodeAt(6) === 32 && header.slice(0, 6).toLowerCase() === 'bearer');
}

function unauthorized(): AppError {
  return new AppError('UNAUTHORIZED', messages.unauthorized);
}

export function forbidden(): AppError {
  return new AppError('FORBIDDEN', messages.forbidden);
}

export const authentication = fp(
  async (app: Api) => {
    const auth = new Authenticator(app.config.jwtSecret);
    app.decorateRequest('principal', null as unknown as Principal);
    // A callback hook: authentication is synchronous, and this runs on every request.
    app.decorate('authenticate', ((request, _reply, done) => {
      try {
        request.principal = auth.authenticate(request.headers.authorization);
      } catch (error) {
        done(error as Error);
        return;
      }
      done();
    }) satisfies onRequestHookHandler);
    app.decorate('requireAdmin', async (request: FastifyRequest) => {
      if (!request.principal.admin) throw forbidden();
    });
  },
  { name: 'authentication', dependencies: ['core'] },
);
