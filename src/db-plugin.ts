/**
 * The primary database as the `db` decorator: opened from the configuration
 * (unless the caller lends one), migrated, and closed when the app closes.
 * It is registered before every plugin that uses it, so that its onClose
 * hook, registered first, runs last (Fastify runs onClose hooks in reverse
 * order of registration): everything else stops before the database closes.
 * Where no autovacuum runs, it also keeps the tables' statistics up to date
 * as they grow (housekeeping.ts).
 */
import fp from 'fastify-plugin';
import type { Api } from './api.js';
import { openDatabase, type Database } from './db.js';
import { keepStatistics } from './housekeeping.js';
import { migrate } from './migrate.js';
import { WorkLoop } from './work-loop.js';

/** How often the statistics keeper looks for tables that doubled. */
const statisticsEveryMs = 2_000;

declare module 'fastify' {
  interface FastifyInstance {
    /** The primary: every write, every payment, and every read that must see them. */
    db: Database;
  }
}

export type DatabaseOptions = {
  /** A database opened by the caller (tests share one); the app will not close it. */
  db?: Database;
};

export const database = fp(
  async (app: Api, options: DatabaseOptions) => {
    const lent = options.db;
    const db = lent ?? (await openDatabase(app.config, (error) => app.log.warn({ err: error }, 'idle database connection lost')));
    if (lent === undefined) app.addHook('onClose', async () => db.close());
    await migrate(db);
    app.decorate('db', db);
    const log = app.log.child({ component: 'statistics' });
    const statistics = new WorkLoop('statistics keeper', () => keepStatistics(db, log), statisticsEveryMs, log);
    app.addHook('onReady', async () => statistics.start());
    // Registered after the database's own hook, so it runs first: the keeper stops before the database closes.
    app.addHook('onClose', async () => statistics.stop());
  },
  { name: 'database', dependencies: ['core'] },
);
