/**
 * Events as a plugin: builds the instance's events machinery — the outbox
 * relay, the JetStream publisher when NATS_URL is set, and the webhook
 * dispatcher — starts it when the app is ready and stops it when the app
 * closes: loops first (the attempts in flight finish and are recorded), then
 * the NATS connection. Registers the webhook admin API under /api.
 */
import fp from 'fastify-plugin';
import { apiRoutes, type Api } from '../api.js';
import { WebhookDispatcher } from './delivery.js';
import { WorkLoop } from '../work-loop.js';
import { JetStreamPublisher } from './nats.js';
import { OutboxRelay } from './relay.js';
import { webhookRoutes } from './routes.js';

export type Events = { relay: OutboxRelay; dispatcher: WebhookDispatcher };

declare module 'fastify' {
  interface FastifyInstance {
    /** The outbox relay and webhook delivery of this instance; their counters are what the fault tests read. */
    events: Events;
  }
}

const publishTimeoutMs = 3_000;
// Longer than a publish can take, short enough that a dead instance's claims come back soon.
const claimLeaseMs = 15_000;
const purgeBatchMax = 1_000;

async function setupEvents(app: Api): Promise<void> {
  const { db } = app;
  const config = app.config.events;
  const log = app.log.child({ component: 'events' });
  const publisher = config.natsUrl === undefined ? undefined : new JetStreamPublisher(config.natsUrl, log, publishTimeoutMs);
  const dispatcher = new WebhookDispatcher(db, config, log);
  const deliveries = new WorkLoop('webhook delivery', () => dispatcher.step(), config.outboxPollMs, log);
  dispatcher.onSettled = () => deliveries.nudge();
  const relay = new OutboxRelay(
    db,
    publisher,
    {
      batchMax: config.outboxBatchMax,
      leaseMs: claimLeaseMs,
      retentionMs: config.outboxRetentionMs,
      purgeEveryMs: Math.min(60_000, Math.max(100, Math.floor(config.outboxRetentionMs / 4))),
      purgeBatchMax,
      onFannedOut: () => deliveries.nudge(),
    },
    log,
  );
  const relaying = new WorkLoop('outbox relay', () => relay.step(), config.outboxPollMs, log);

  if (config.relayEnabled) {
    app.addHook('onReady', async () => {
      publisher?.start();
      relaying.start();
      deliveries.start();
    });
  }
  app.addHook('onClose', async () => {
    await Promise.all([relaying.stop(), deliveries.stop()]);
    await dispatcher.abortInFlight();
    await publisher?.close();
  });
  app.decorate('events', { relay, dispatcher });
  await apiRoutes(app, webhookRoutes);
}

export const events = fp(setupEvents, { name: 'events', dependencies: ['database', 'authentication', 'pagination', 'load-shedding'] });
