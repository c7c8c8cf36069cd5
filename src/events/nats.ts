/**
 * Publishing to NATS JetStream: stream `SHOP` on `shop.>` (created when
 * missing), one message per event on `shop.<type>` with `Nats-Msg-Id` = the
 * event id, so that the stream's duplicate window drops a republish.
 *
 * The connection is opened in the background and retried until it succeeds
 * or the publisher is closed; after that the client reconnects by itself.
 * While there is no connection, publishing fails and the relay keeps the
 * events in the outbox.
 *
 * A JetStream publish is a core NATS request: the message goes out with a
 * reply subject, and the stream answers there with its acknowledgement
 * (`{"stream", "seq", "duplicate"}`, or `{"error"}`). The client's own
 * `publish` makes each one a request object of its own, with a timer, a
 * token and an Error built when it completes (about a third of the relay's
 * CPU in the service, measured with --cpu-prof while relaying a flash sale).
 * So the acknowledgements of every publish come to one subscription, on
 * `<inbox>.*`, matched to their message by the reply subject's last token,
 * and a batch has one timer and one promise.
 */
import { jetstreamManager, JetStreamApiCodes, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { connect, createInbox, headers, type Msg } from '@nats-io/transport-node';
import type { FastifyBaseLogger } from 'fastify';
import { setDeadline } from '../deadline.js';
import { natsSubject, type EventMessage } from './envelope.js';

export const streamName = 'SHOP';
const streamSubjects = ['shop.>'];
const duplicateWindowMs = 120_000;
const connectTimeoutMs = 2_000;
const reconnectWaitMs = 250;
const connectRetryMs = 500;

type Connection = Awaited<ReturnType<typeof connect>>;

/** A batch being published: its answers so far, how many are missing, and what to call when none is. */
type Batch = { acks: Ack[]; missing: number; done: () => void };

export type PublishOutcome = { published: boolean[]; duplicates: number };

/** What the stream answered to one message: stored (maybe as a duplicate), or why not. */
type Ack = { stored: true; duplicate: boolean } | { stored: false; failure: string };

function readAck(msg: Msg): Ack {
  // A status message: 503 when no stream listens on the subject.
  if (msg.headers?.hasError === true) return { stored: false, failure: `${msg.headers.code} ${msg.headers.description}` };
  try {
    const ack = msg.json<{ stream?: string; duplicate?: boolean; error?: { code?: number; description?: string } }>();
    if (ack.error !== undefined) return { stored: false, failure: `${ack.error.code} ${ack.error.description}` };
    if (typeof ack.stream === 'string' && ack.stream !== '') return { stored: true, duplicate: ack.duplicate === true };
  } catch {
    // Not JSON: answered below.
  }
  return { stored: false, failure: 'not a JetStream acknowledgement' };
}

export class JetStreamPublisher {
  readonly #url: string;
  readonly #log: FastifyBaseLogger;
  readonly #publishTimeoutMs: number;
  #connection: Connection | undefined;
  /** Acknowledgements come to `<inbox>.<token>`; each awaited one has its token here, with its batch and place in it. */
  #inbox = '';
  readonly #awaiting = new Map<string, { batch: Batch; index: number }>();
  #nextToken = 0;
  #streamReady = false;
  #closed = false;
  #connecting: Promise<void> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #wakeRetry: (() => void) | undefined;

  constructor(url: string, log: FastifyBaseLogger, publishTimeoutMs: number) {
    this.#url = url;
    this.#log = log;
    this.#publishTimeoutMs = publishTimeoutMs;
  }

  start(): void {
    this.#connecting ??= this.#connectLoop();
  }

  async #connectLoop(): Promise<void> {
    while (!this.#closed) {
      try {
        const connection = await connect({
          servers: this.#url,
          name: 'commerce-order-service',
          timeout: connectTimeoutMs,
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: reconnectWaitMs,
          // Otherwise every publish builds two Error objects up front, stack traces included, in case it
          // fails: measured at 5.5 % of the service's CPU time while relaying a flash sale.
          noAsyncTraces: true,
        });
        if (this.#closed) {
          await connection.close();
          return;
        }
        this.#inbox = createInbox();
        // Kept across reconnects by the client, like any subscription.
        connection.subscribe(`${this.#inbox}.*`, { callback: (_error, msg) => this.#acknowledged(msg) });
        this.#connection = connection;
        this.#log.info({ url: this.#url }, 'connected to NATS');
        return;
      } catch (error) {
        this.#log.warn({ err: error }, 'NATS unreachable, retrying');
        await new Promise<void>((resolve) => {
          this.#wakeRetry = resolve;
          this.#retryTimer = setTimeout(resolve, connectRetryMs);
        });
      }
    }
  }

  async #ensureStream(connection: Connection): Promise<void> {
    if (this.#streamReady) return;
    const manager = await jetstreamManager(connection, { timeout: this.#publishTimeoutMs });
    try {
      await manager.streams.info(streamName);
    } catch (error) {
      if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
      try {
        await manager.streams.add({
          name: streamName,
          subjects: streamSubjects,
          storage: StorageType.File,
          duplicate_window: duplicateWindowMs * 1_000_000,
        });
      } catch (addError) {
        // Another instance may have created it a moment ago.
        await manager.streams.info(streamName).catch(() => {
          throw addError;
        });
      }
    }
    this.#streamReady = true;
  }

  #acknowledged(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length + 1);
    const waiting = this.#awaiting.get(token);
    if (waiting === undefined) return; // Its batch timed out; the relay sends it again.
    this.#settle(token, waiting, readAck(msg));
  }

  #settle(token: string, waiting: { batch: Batch; index: number }, ack: Ack): void {
    this.#awaiting.delete(token);
    const { batch } = waiting;
    batch.acks[waiting.index] = ack;
    batch.missing -= 1;
    if (batch.missing === 0) batch.done();
  }

  /**
   * Publishes the events in order, all in flight at once, and tells which
   * were acknowledged. Throws (nothing acknowledged) when there is no connection.
   */
  async publish(events: readonly EventMessage[]): Promise<PublishOutcome> {
    const connection = this.#connection;
    if (connection === undefined || connection.isClosed()) throw new Error('not connected to NATS');
    await this.#ensureStream(connection);
    const tokens: string[] = [];
    let done = () => {};
    const answered = new Promise<void>((resolve) => {
      done = resolve;
    });
    const batch: Batch = { acks: new Array<Ack>(events.length), missing: events.length, done };
    if (events.length === 0) done();
    for (const [index, event] of events.entries()) {
      const token = String(this.#nextToken++);
      tokens.push(token);
      this.#awaiting.set(token, { batch, index });
      const messageHeaders = headers();
      messageHeaders.set('Nats-Msg-Id', event.id);
      try {
        connection.publish(natsSubject(event.type), event.json, { reply: `${this.#inbox}.${token}`, headers: messageHeaders });
      } catch (error) {
        // Closed meanwhile, or refused by the client: this message is not sent.
        this.#giveUp([token], error instanceof Error ? error.message : String(error));
      }
    }
    const deadline = setDeadline(() => this.#giveUp(tokens, 'no acknowledgement in time'), this.#publishTimeoutMs);
    await answered;
    deadline.clear();
    const answers = batch.acks;
    let duplicates = 0;
    const published = answers.map((ack) => {
      if (ack.stored && ack.duplicate) duplicates += 1;
      return ack.stored;
    });
    const failure = answers.find((ack) => !ack.stored);
    if (failure !== undefined) {
      // The stream may have been deleted, or the server replaced: look again next time.
      this.#streamReady = false;
      this.#log.warn({ failure: failure.failure, failed: published.filter((ok) => !ok).length }, 'JetStream publish failed');
    }
    return { published, duplicates };
  }

  /** Settles, as not stored, the messages of `tokens` still awaiting their acknowledgement. */
  #giveUp(tokens: readonly string[], failure: string): void {
    for (const token of tokens) {
      const waiting = this.#awaiting.get(token);
      if (waiting !== undefined) this.#settle(token, waiting, { stored: false, failure });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#wakeRetry?.();
    await this.#connecting;
    this.#giveUp([...this.#awaiting.keys()], 'publisher closed');
    await this.#connection?.close().catch(() => {});
  }
}
