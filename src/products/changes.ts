/**
 * Cross-instance coherence of the product cache: an admin write notifies
 * `product_changed` with the product's id in its own statement
 * (src/products/queries.ts), and every instance LISTENs on a connection of
 * its own to the primary and reads the product again from the primary when
 * the notification arrives — a few milliseconds after the commit, where the
 * cache's expiry alone would take up to a second. The expiry stays as the
 * backstop: a notification can be lost while this connection is down, so on
 * every (re)connection every entry goes back to the database on its next read.
 *
 * LISTEN needs a session of its own: behind PgBouncer in transaction
 * pooling this connection must go around it (DATABASE_DIRECT_URL).
 * Payments' stock changes are not notified (one NOTIFY per payment would
 * serialize every commit on the notification queue); the cache drops the
 * entries of the process's own payments at once, and other instances' within
 * its expiry.
 */
import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import type { Config } from '../config.js';
import type { CatalogueReads } from '../replica.js';
import type { ProductCache } from './cache.js';
import { productChangedChannel } from './queries.js';

const reconnectDelayMinMs = 100;
const reconnectDelayMaxMs = 2_000;

export type ProductChangesStatus = { listening: boolean };

export class ProductChanges {
  #client: pg.Client | undefined;
  #stopped = true;
  #listening = false;
  #delayMs = reconnectDelayMinMs;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly config: Config,
    private readonly cache: ProductCache,
    /** Reads on the primary: a replica may not have replayed the change yet. */
    private readonly primary: CatalogueReads,
    private readonly log: FastifyBaseLogger,
  ) {}

  status(): ProductChangesStatus {
    return { listening: this.#listening };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.config.dbConnectTimeoutMs,
      keepAlive: true,
      application_name: 'commerce-order-service-listener',
    });
    this.#client = client;
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      this.#listening = false;
      client.end().catch(() => {});
      if (this.#stopped || this.#client !== client) return;
      this.log.warn({ err: error }, 'product change notifications lost; reconnecting');
      this.#timer = setTimeout(() => void this.#connect(), this.#delayMs);
      this.#delayMs = Math.min(reconnectDelayMaxMs, this.#delayMs * 2);
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (message) => this.#changed(message.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${productChangedChannel}`);
    } catch (error) {
      onLost(error as Error);
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.#listening = true;
    this.#delayMs = reconnectDelayMinMs;
    // Writes made while no one listened were not heard.
    this.cache.forgetAll();
  }

  #changed(payload: string | undefined): void {
    const id = Number(payload);
    if (!Number.isSafeInteger(id) || id <= 0) return;
    this.cache.reload(this.primary, [id]).catch((error: unknown) => {
      this.cache.forget([id]);
      this.log.warn({ err: error, productId: id }, 'reading a changed product failed');
    });
  }
}
