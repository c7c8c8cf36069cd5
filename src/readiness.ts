/**
 * `GET /health` (the process answers) and `GET /ready` (it can serve: the
 * database answers; with the state of recovery, the replica and the product
 * change notifications). Both are outside /api: never shed, no token.
 */
import type { Api } from './api.js';
import { messages } from './errors.js';

export async function readiness(app: Api): Promise<void> {
  const { db, recovery, replica, productChanges } = app;
  app.get('/health', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/ready', { schema: { hide: true } }, async (_request, reply) => {
    try {
      await db.query('SELECT 1');
      return {
        status: 'ready',
        recovery: recovery.status(),
        ...(replica === undefined ? {} : { replica: replica.status() }),
        ...(productChanges === undefined ? {} : { productChanges: productChanges.status() }),
      };
    } catch {
      return reply.code(503).header('retry-after', '1').send({ code: 'SERVICE_UNAVAILABLE', message: messages.unavailable });
    }
  });
}
