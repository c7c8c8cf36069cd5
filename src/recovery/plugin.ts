/**
 * Recovery as a plugin: opens this instance's journal under DATA_DIR and
 * runs the recovery worker from when the app is ready. Orders write to the
 * journal and read it (`journal`); /ready, the admin API and the gauges show
 * the worker's state (`recovery`).
 */
import { join } from 'node:path';
import fp from 'fastify-plugin';
import type { Api } from '../api.js';
import { PendingJournal } from './journal.js';
import { RecoveryWorker, recoveryIntervalMs } from './worker.js';

declare module 'fastify' {
  interface FastifyInstance {
    journal: PendingJournal;
    recovery: RecoveryWorker;
  }
}

export type RecoveryOptions = {
  /** False leaves the worker stopped (tests that drive it by hand). */
  start?: boolean;
};

export const recovery = fp(
  async (app: Api, options: RecoveryOptions) => {
    const { config, db } = app;
    const journal = new PendingJournal(config.dataDir === ':memory:' ? undefined : join(config.dataDir, 'journal'));
    await journal.open();
    const worker = new RecoveryWorker(db, journal, app.log, recoveryIntervalMs(config.recoveryDeadlineMs));
    if (options.start !== false) app.addHook('onReady', async () => worker.start());
    // One hook, after the database's (so it runs before it): the worker stops, then the journal it writes closes.
    app.addHook('onClose', async () => {
      await worker.stop();
      await journal.close();
    });
    app.decorate('journal', journal);
    app.decorate('recovery', worker);
  },
  { name: 'recovery', dependencies: ['database'] },
);
