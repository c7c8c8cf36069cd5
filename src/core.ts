/**
 * The service's inputs as decorators: its configuration, parsed once
 * (src/config.ts), and its clock, which tests may move.
 */
import fp from 'fastify-plugin';
import type { Api } from './api.js';
import type { Config } from './config.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    /** The service's clock; tests may move it. */
    now: () => Date;
  }
}

export type CoreOptions = { config: Config; now: () => Date };

export const core = fp(
  async (app: Api, options: CoreOptions) => {
    app.decorate('config', options.config);
    app.decorate('now', options.now);
  },
  { name: 'core' },
);
