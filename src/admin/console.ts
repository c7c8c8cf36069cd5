/**
 * Serves the built admin console (console/, built by `npm run build` into
 * dist/console) at /admin. It is static files only: the console signs in with
 * an admin token and does everything else through /api/admin/**, so nothing
 * here needs a token.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { Api } from '../api.js';

/** The same place from src/admin (tests, through tsx) and from dist/admin (npm start). */
export const consoleDir = fileURLToPath(new URL('../../dist/console/', import.meta.url));

// The console's own files and its own origin only: a script that got into a
// page could read the token in sessionStorage, so no other source may run.
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export async function adminConsole(app: Api): Promise<void> {
  if (!existsSync(`${consoleDir}index.html`)) {
    app.log.warn({ dir: consoleDir }, 'the admin console is not built; npm run build builds it');
    const notBuilt = { code: 'SERVICE_UNAVAILABLE', message: '관리 콘솔이 아직 빌드되지 않았습니다. npm run build 를 실행해 주세요.' };
    for (const path of ['/admin', '/admin/']) app.get(path, { schema: { hide: true } }, async (_request, reply) => reply.code(503).send(notBuilt));
    return;
  }
  // The page's relative asset paths need the trailing slash.
  app.get('/admin', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/admin/', 301));
  await app.register(fastifyStatic, {
    root: consoleDir,
    prefix: '/admin/',
    redirect: true,
    decorateReply: false,
    schemaHide: true,
    index: 'index.html',
    cacheControl: false,
    setHeaders: (response, path) => {
      // Vite names every asset by its content hash; index.html names the current ones.
      const hashed = path.includes('/assets/');
      response.setHeader('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      response.setHeader('x-content-type-options', 'nosniff');
      response.setHeader('referrer-policy', 'no-referrer');
      if (path.endsWith('.html')) response.setHeader('content-security-policy', contentSecurityPolicy);
    },
  });
}
