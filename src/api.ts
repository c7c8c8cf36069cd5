/**
 * The instance type every plugin of the service is written against (its
 * schemas are TypeBox's), and the one way a feature puts routes under /api.
 * It imports no feature, so that every feature may import it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';

export type Api = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/**
 * Registers a feature's routes under /api, in a context of their own that
 * first sheds load (src/shedding.ts) and then authenticates (src/auth.ts):
 * a shed request costs no HMAC.
 */
export async function apiRoutes(app: Api, routes: (api: Api) => Promise<void>): Promise<void> {
  await app.register(
    async (api: Api) => {
      api.addHook('onRequest', app.shedder.hook);
      api.addHook('onRequest', app.authenticate);
      await routes(api);
    },
    { prefix: '/api' },
  );
}
