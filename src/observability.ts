/**
 * Which request was that, and what did the service do: request ids on every
 * answer and log line, and the HTTP, order and claim metrics.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Api } from './api.js';
import type { Config } from './config.js';
import { eventsBacklog } from './events/queries.js';
import { collectProcessMetrics, countCouponClaim, countOrder, observeHttp, registry, startMetricsServer, watch } from './metrics.js';

/** 1–128 visible ASCII characters; anything else is ignored and replaced. */
const clientRequestId = /^[\x21-\x7e]{1,128}$/;

/** Fastify's `genReqId`: the client's `x-request-id` when it is well-formed, else a fresh UUID. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && clientRequestId.test(given) ? given : randomUUID();
}

function echoRequestId(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
  reply.header('x-request-id', request.id);
  done();
}

/** The error code of an answer the service built (`{code, message}`), if it is one. */
function codeOf(payload: unknown): string | undefined {
  if (typeof payload !== 'string' || !payload.startsWith('{"code":"')) return undefined;
  try {
    const { code } = JSON.parse(payload) as { code?: unknown };
    return typeof code === 'string' && /^[A-Z_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

export function orderOutcome(statusCode: number, payload: unknown): string {
  if (statusCode === 200) return 'paid';
  if (statusCode === 202) return 'pending';
  const code = codeOf(payload) ?? `HTTP_${statusCode}`;
  return code === 'DUPLICATE_REQUEST' ? 'duplicate' : code;
}

function claimOutcome(statusCode: number, payload: unknown): string {
  return statusCode === 200 ? 'issued' : (codeOf(payload) ?? `HTTP_${statusCode}`);
}

/** Routes whose answers are counted by outcome, by method and full path. */
const outcomeCounters: Readonly<Record<string, (statusCode: number, payload: unknown) => void>> = {
  'POST /api/orders': (statusCode, payload) => countOrder(orderOutcome(statusCode, payload)),
  'POST /api/coupons': (statusCode, payload) => countCouponClaim(claimOutcome(statusCode, payload)),
};

/** Echoes the request id on every answer; with `metrics`, also counts and times the answers. Before any route. */
export function instrument(app: FastifyInstance, metrics: boolean): void {
  app.addHook('onRequest', echoRequestId);
  if (!metrics) return;

  app.addHook('onResponse', (request, reply, done) => {
    // The route pattern, never the URL: ids in paths would make a series per order.
    observeHttp(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const count = methods.map((method) => outcomeCounters[`${method} ${route.url}`]).find((found) => found !== undefined);
    if (count === undefined) return;
    const hook = (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
      count(reply.statusCode, payload);
      done(null, payload);
    };
    route.onSend = [...(route.onSend === undefined ? [] : Array.isArray(route.onSend) ? route.onSend : [route.onSend]), hook];
  });
}

/**
 * What the metrics read from this app when Prometheus scrapes: the pool, the
 * recovery backlog, the relay's and the webhook dispatcher's counts and the
 * outbox backlog; registered after recovery and events.
 */
export async function gauges(app: Api): Promise<void> {
  const { db, recovery, events } = app;
  collectProcessMetrics();
  const unwatch = watch({
    db: () => db.stats(),
    recovery: () => recovery.status(),
    events: { relay: events.relay.stats, deliveries: events.dispatcher.stats, backlog: () => eventsBacklog(db) },
  });
  app.addHook('onClose', async () => unwatch());
}

/** This process's `GET /metrics` on `METRICS_PORT` (a single process; workers report to the primary). Before listen. */
export async function serveMetrics(app: FastifyInstance, config: Config): Promise<void> {
  if (config.metricsPort === undefined) return;
  const metrics = await startMetricsServer(config.host, config.metricsPort, () => registry.metrics(), (error) =>
    app.log.error({ err: error }, 'metrics could not be collected'),
  );
  app.log.info({ port: metrics.port }, 'metrics listening');
  app.addHook('onClose', async () => metrics.close());
}
