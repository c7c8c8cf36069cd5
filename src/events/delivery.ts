/**
 * Webhook delivery, one dispatcher per instance. It leases due deliveries
 * (one statement), sends each as a signed POST with a deadline, and records
 * the outcome (one statement each); no transaction is open during a call.
 * A 2xx is delivered; anything else is tried again after a growing pause
 * until the attempts run out, when the delivery is failed and its endpoint
 * counts it towards the circuit breaker.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db.js';
import type { EventsConfig } from '../config.js';
import { retryDelayMs } from './backoff.js';
import { toEventMessage } from './envelope.js';
import { postWebhook } from './http.js';
import { claimDueDeliveries, recordDelivered, recordFailed, recordRetry, type DueDelivery } from './queries.js';
import { signWebhook } from './signature.js';

// The lease covers the call's deadline and the time to record its outcome.
const leaseMarginMs = 5_000;
const errorLengthMax = 500;

export type DeliveryStats = { attempts: number; delivered: number; retried: number; failed: number };

export class WebhookDispatcher {
  readonly stats: DeliveryStats = { attempts: 0, delivered: 0, retried: 0, failed: 0 };
  readonly #db: Database;
  readonly #config: EventsConfig;
  readonly #log: FastifyBaseLogger;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  #onSettled: () => void = () => {};

  constructor(db: Database, config: EventsConfig, log: FastifyBaseLogger) {
    this.#db = db;
    this.#config = config;
    this.#log = log;
  }

  /** Called whenever an attempt finishes (a slot is free again). */
  set onSettled(fn: () => void) {
    this.#onSettled = fn;
  }

  /** Leases as many due deliveries as there are free slots and starts them; true when every slot got one. */
  async step(): Promise<boolean> {
    const free = this.#config.webhookConcurrencyMax - this.#inFlight.size;
    if (free <= 0) return false;
    const due = await claimDueDeliveries(this.#db, free, this.#config.webhookTimeoutMs + leaseMarginMs);
    for (const delivery of due) {
      const attempt = this.#attempt(delivery).finally(() => {
        this.#inFlight.delete(attempt);
        this.#onSettled();
      });
      this.#inFlight.add(attempt);
    }
    return due.length === free;
  }

  /**
   * Cuts the attempts in flight short and waits until their outcomes are
   * recorded: each is due again at once, for whichever instance runs next.
   */
  async abortInFlight(): Promise<void> {
    this.#stopping.abort();
    await Promise.allSettled([...this.#inFlight]);
  }

  async #attempt(delivery: DueDelivery): Promise<void> {
    const event = toEventMessage({ ...delivery, id: delivery.event_id });
    const body = event.json;
    const headers = signWebhook(delivery.secret, event.id, Math.floor(Date.now() / 1000), body);
    this.stats.attempts += 1;
    const result = await postWebhook(delivery.url, { ...headers }, body, {
      timeoutMs: this.#config.webhookTimeoutMs,
      allowPrivate: this.#config.webhookAllowPrivate,
      signal: this.#stopping.signal,
    });
    try {
      if (result.ok) {
        await recordDelivered(this.#db, delivery.id, result.status);
        this.stats.delivered += 1;
        return;
      }
      const error = result.error.slice(0, errorLengthMax);
      if (this.#stopping.signal.aborted) {
        await recordRetry(this.#db, delivery.id, result.status, error, 0);
        return;
      }
      if (delivery.attempts >= this.#config.webhookAttemptsMax) {
        await recordFailed(this.#db, delivery.id, result.status, error, this.#config.webhookDisableAfterFailures);
        this.stats.failed += 1;
        this.#log.warn({ deliveryId: delivery.id, webhookId: delivery.webhook_id, error }, 'webhook delivery failed for good');
        return;
      }
      const delayMs = retryDelayMs(delivery.attempts, this.#config.webhookRetryMinMs, this.#config.webhookRetryMaxMs);
      await recordRetry(this.#db, delivery.id, result.status, error, delayMs);
      this.stats.retried += 1;
    } catch (error) {
      // The lease runs out and the attempt is made again: at least once.
      this.#log.warn({ err: error, deliveryId: delivery.id }, 'webhook outcome not recorded');
    }
  }
}
