/**
 * Prometheus metrics (prom-client) for one process. Hot paths count into
 * plain numbers or pre-labelled children; the gauges are read from their
 * sources when Prometheus scrapes. With several workers, the primary serves
 * one `/metrics` for the machine, gathered from every worker (primary.ts).
 *
 * Labels hold only bounded values: route patterns (never a raw URL), status
 * codes, error codes, cache and route-class names.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withinDeadline } from './deadline.js';

export const registry = new Registry();

/** The outbox relay's and the webhook dispatcher's running counts, and what only the database knows of them. */
export type EventsSource = Readonly<{
  relay: Readonly<{ relayed: number; publishFailures: number; duplicates: number; purged: number }>;
  deliveries: Readonly<{ delivered: number; retried: number; failed: number }>;
  /** Events not yet relayed, and webhook endpoints the circuit breaker stopped (one query). */
  backlog: () => Promise<EventsBacklog>;
}>;
export type EventsBacklog = { unrelayed: number; stopped: number };

/**
 * What the app lends the gauges; several apps in one process (tests) are
 * summed, except figures read from the database they share, where the
 * largest is taken.
 */
export type GaugeSource = Readonly<{
  db: () => { inUse: number; waiting: number };
  recovery: () => { journalBacklog: number; pendingOrders: number };
  events: EventsSource;
}>;
const sources = new Set<GaugeSource>();

function sum(pick: (source: GaugeSource) => number): number {
  let total = 0;
  for (const source of sources) total += pick(source);
  return total;
}

const latencyBucketsS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const httpDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP requests by method, route pattern and status code.',
  labelNames: ['method', 'route', 'status_code'] as const,
  buckets: latencyBucketsS,
  registers: [registry],
});

const orders = new Counter({
  name: 'orders_total',
  help: 'Answers to POST /api/orders: paid, pending, duplicate, or the failure code.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

const paymentBatch = new Histogram({
  name: 'payment_batch_size',
  help: 'Orders paid by one database call (1 = alone; more = one product, one transaction).',
  buckets: [1, 2, 4, 8, 16, 32, 64],
  registers: [registry],
});

const couponClaims = new Counter({
  name: 'coupon_claims_total',
  help: 'Answers to POST /api/coupons: issued, or the failure code.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

const dbDuration = new Histogram({
  name: 'db_call_duration_seconds',
  help: 'Database calls (one statement, or one transaction) by kind and result.',
  labelNames: ['call', 'result'] as const,
  buckets: latencyBucketsS,
  registers: [registry],
});
const dbCalls = {
  query: { ok: dbDuration.labels('query', 'ok'), error: dbDuration.labels('query', 'error') },
  transaction: { ok: dbDuration.labels('transaction', 'ok'), error: dbDuration.labels('transaction', 'error') },
};

new Gauge({
  name: 'db_pool_in_use',
  help: 'Database connections in use (the embedded database: 1 while it runs a call).',
  registers: [registry],
  collect() {
    this.set(sum((source) => source.db().inUse));
  },
});
new Gauge({
  name: 'db_pool_waiting',
  help: 'Database calls waiting for a connection.',
  registers: [registry],
  collect() {
    this.set(sum((source) => source.db().waiting));
  },
});
new Gauge({
  name: 'recovery_pending_orders',
  help: 'Orders pending in the database at the last recovery sweep.',
  registers: [registry],
  collect() {
    this.set(sum((source) => source.recovery().pendingOrders));
  },
});
new Gauge({
  name: 'recovery_journal_entries',
  help: 'Orders in the fallback journal not yet recorded in the database.',
  registers: [registry],
  collect() {
    this.set(sum((source) => source.recovery().journalBacklog));
  },
});

new Counter({
  name: 'outbox_events_relayed_total',
  help: 'Outbox events this process relayed: acknowledged by JetStream, or (without NATS_URL) marked relayed at once.',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(sum((source) => source.events.relay.relayed));
  },
});
new Counter({
  name: 'outbox_publish_failures_total',
  help: 'Events JetStream did not acknowledge (broker away, timeout, refused); each is published again later.',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(sum((source) => source.events.relay.publishFailures));
  },
});
new Counter({
  name: 'outbox_publish_duplicates_total',
  help: 'Events JetStream acknowledged as duplicates: it had stored them already (a republish after a lost acknowledgement).',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(sum((source) => source.events.relay.duplicates));
  },
});
new Counter({
  name: 'outbox_events_purged_total',
  help: 'Relayed and delivered events deleted from the outbox once past OUTBOX_RETENTION_MS.',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(sum((source) => source.events.relay.purged));
  },
});
const relayLag = new Histogram({
  name: 'outbox_relay_lag_seconds',
  help: "From an event's time (its transaction's start) to its relay: JetStream's acknowledgement, or the mark without NATS_URL.",
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  registers: [registry],
});
new Counter({
  name: 'webhook_deliveries_total',
  help: 'Webhook delivery attempts by result: delivered (2xx), retried (to be tried again), failed (no attempts left).',
  labelNames: ['result'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const result of ['delivered', 'retried', 'failed'] as const) this.inc({ result }, sum((source) => source.events.deliveries[result]));
  },
});

/**
 * The database's side of the events, read when Prometheus scrapes: one query
 * serves both gauges of a scrape (they are collected together), bounded in
 * time; when the database cannot answer, the gauges keep their last values.
 * Every worker and instance reads the same tables, so workers' figures are
 * not summed but the largest taken.
 */
const backlogReadTimeoutMs = 1_000;
let lastBacklog: EventsBacklog = { unrelayed: 0, stopped: 0 };
let backlogRead: Promise<EventsBacklog> | undefined;
function readBacklog(): Promise<EventsBacklog> {
  if (backlogRead !== undefined) return backlogRead;
  const reads = Promise.all([...sources].map((source) => source.events.backlog())).then((all) => {
    lastBacklog = {
      unrelayed: Math.max(0, ...all.map((b) => b.unrelayed)),
      stopped: Math.max(0, ...all.map((b) => b.stopped)),
    };
    return lastBacklog;
  });
  backlogRead = withinDeadline(reads, backlogReadTimeoutMs, 'the database')
    .catch(() => lastBacklog)
    .finally(() => {
      backlogRead = undefined;
    });
  return backlogRead;
}
new Gauge({
  name: 'outbox_unrelayed_events',
  help: 'Events in the outbox not yet relayed (the relay backlog of every instance together).',
  aggregator: 'max',
  registers: [registry],
  async collect() {
    this.set((await readBacklog()).unrelayed);
  },
});
new Gauge({
  name: 'webhook_endpoints_stopped',
  help: 'Webhook endpoints the circuit breaker disabled after WEBHOOK_DISABLE_AFTER consecutive failed deliveries.',
  aggregator: 'max',
  registers: [registry],
  async collect() {
    this.set((await readBacklog()).stopped);
  },
});

/** Cache lookups by cache; `hit / (hit + miss)` is the hit ratio. Plain numbers: they sit on the hottest paths. */
export const cacheLookups = {
  product: { hit: 0, miss: 0 },
  campaign: { hit: 0, miss: 0 },
  token: { hit: 0, miss: 0 },
};
new Counter({
  name: 'cache_lookups_total',
  help: 'Cache lookups by cache and result (hit or miss).',
  labelNames: ['cache', 'result'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [cache, counts] of Object.entries(cacheLookups)) {
      this.inc({ cache, result: 'hit' }, counts.hit);
      this.inc({ cache, result: 'miss' }, counts.miss);
    }
  },
});

const rateLimited = new Counter({
  name: 'rate_limited_total',
  help: 'Requests refused with 429 RATE_LIMITED, by route class.',
  labelNames: ['class'] as const,
  registers: [registry],
});
const rateLimitStoreErrors = new Counter({
  name: 'rate_limit_store_errors_total',
  help: 'Rate-limit checks that could not reach Redis and let the request pass (fail open).',
  registers: [registry],
});
const shed = new Counter({
  name: 'requests_shed_total',
  help: 'Requests answered 503 at once because the process was overloaded, by the bound that was past.',
  labelNames: ['reason'] as const,
  registers: [registry],
});

let defaultsOn = false;
/** The process and Node metrics (CPU, memory, heap, event-loop lag, GC); once per process. */
export function collectProcessMetrics(): void {
  if (defaultsOn) return;
  defaultsOn = true;
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });
}

export function watch(source: GaugeSource): () => void {
  sources.add(source);
  return () => sources.delete(source);
}

export function observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
  httpDuration.observe({ method, route, status_code: statusCode }, seconds);
}

export function countOrder(outcome: string): void {
  orders.inc({ outcome });
}

export function observePaymentBatch(size: number): void {
  paymentBatch.observe(size);
}

export function countCouponClaim(outcome: string): void {
  couponClaims.inc({ outcome });
}

export function observeDbCall(call: 'query' | 'transaction', ok: boolean, seconds: number): void {
  dbCalls[call][ok ? 'ok' : 'error'].observe(seconds);
}

export function countRateLimited(routeClass: string): void {
  rateLimited.inc({ class: routeClass });
}

export function countRateLimitStoreError(requests = 1): void {
  rateLimitStoreErrors.inc(requests);
}

export function observeRelayLag(seconds: number): void {
  relayLag.observe(Math.max(0, seconds));
}

export function countShed(reason: 'loop_delay' | 'db_waiting'): void {
  shed.inc({ reason });
}

/**
 * In a worker: answer the primary's requests for this process's metrics, so
 * that one `/metrics` covers every worker.
 */
export function shareWithPrimary(): void {
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}

/** `GET /metrics` on its own port; anything else is 404. `render` gives the text. */
export async function startMetricsServer(
  host: string,
  port: number,
  render: () => Promise<string>,
  onError: (error: unknown) => void,
): Promise<{ server: Server; port: number; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    render().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        onError(error);
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
