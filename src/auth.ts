/**
 * Bearer tokens (SPEC §3): HS256 only, `exp` required, `sub` is the user id
 * (1–64 characters), `role: "admin"` grants the admin routes.
 */
import { SignJWT, jwtVerify } from 'jose';
import { AppError, messages } from './errors.js';

export type Principal = Readonly<{ userId: string; admin: boolean }>;

type CachedPrincipal = { principal: Principal; expiresAtMs: number };

// Verified tokens are remembered until they expire, so a client that sends the
// same token on every call pays for one HMAC, not one per request.
const cacheSizeMax = 100_000;

export class Authenticator {
  readonly #key: Uint8Array;
  readonly #cache = new Map<string, CachedPrincipal>();

  constructor(secret: string) {
    this.#key = new TextEncoder().encode(secret);
  }

  async authenticate(header: string | undefined, nowMs = Date.now()): Promise<Principal> {
    const match = header === undefined ? null : /^Bearer ([A-Za-z0-9_\-.]{1,4096})$/.exec(header);
    if (match === null) throw unauthorized();
    const token = match[1]!;
    const cached = this.#cache.get(token);
    if (cached !== undefined && cached.expiresAtMs > nowMs) return cached.principal;

    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'sub'],
        currentDate: new Date(nowMs),
      }));
    } catch {
      throw unauthorized();
    }
    const { sub, role, exp } = payload;
    if (typeof sub !== 'string' || sub.length < 1 || sub.length > 64 || typeof exp !== 'number') throw unauthorized();
    const principal: Principal = Object.freeze({ userId: sub, admin: role === 'admin' });
    if (this.#cache.size >= cacheSizeMax) this.#cache.clear();
    this.#cache.set(token, { principal, expiresAtMs: exp * 1000 });
    return principal;
  }

  async sign(userId: string, options: { admin?: boolean; expiresIn?: string } = {}): Promise<string> {
    const claims = options.admin === true ? { role: 'admin' } : {};
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '1h')
      .sign(this.#key);
  }
}

function unauthorized(): AppError {
  return new AppError('UNAUTHORIZED', messages.unauthorized);
}

export function forbidden(): AppError {
  return new AppError('FORBIDDEN', messages.forbidden);
}
