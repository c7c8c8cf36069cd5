/**
 * Load shedding. When the process is past either bound, a new /api request
 * is answered `503 SERVICE_UNAVAILABLE` with `Retry-After` at once, before
 * authentication, instead of queueing toward a timeout:
 *
 * - the event loop's lag, measured by a timer every `sampleIntervalMs`, is
 *   over `shedLoopDelayMs`;
 * - more than `shedDbWaitingMax` database calls wait for a connection (on
 *   the embedded database: for their turn).
 *
 * Requests already admitted finish normally. `/health`, `/ready`, the
 * OpenAPI document and `/metrics` are never shed: they are outside /api.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from './config.js';
import { countShed } from './metrics.js';

const sampleIntervalMs = 20;

export const sheddingMessage = '요청이 많아 지금은 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.';

export class LoadShedder {
  #lagMs = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly loopDelayMaxMs: number,
    readonly dbWaitingMax: number,
    readonly dbWaiting: () => number,
  ) {}

  static fromConfig(config: Config, dbWaiting: () => number): LoadShedder {
    return new LoadShedder(config.shedLoopDelayMs, config.shedDbWaitingMax, dbWaiting);
  }

  /** The timer's own lateness is the loop's lag: it fired that long after it was due. */
  start(): void {
    if (this.loopDelayMaxMs === 0 || this.#timer !== undefined) return;
    let dueMs = performance.now() + sampleIntervalMs;
    const sample = () => {
      const nowMs = performance.now();
      this.#lagMs = Math.max(0, nowMs - dueMs);
      dueMs = nowMs + sampleIntervalMs;
      this.#timer = setTimeout(sample, sampleIntervalMs);
      this.#timer.unref();
    };
    this.#timer = setTimeout(sample, sampleIntervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  get lagMs(): number {
    return this.#lagMs;
  }

  /** Why a new request should be refused now, or undefined to admit it. */
  overloaded(): 'loop_delay' | 'db_waiting' | undefined {
    if (this.loopDelayMaxMs > 0 && this.#lagMs > this.loopDelayMaxMs) return 'loop_delay';
    if (this.dbWaitingMax > 0 && this.dbWaiting() > this.dbWaitingMax) return 'db_waiting';
    return undefined;
  }

  /** An onRequest hook (callback style: it runs on every /api request). */
  readonly hook = (_request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const reason = this.overloaded();
    if (reason === undefined) {
      done();
      return;
    }
    countShed(reason);
    void reply.code(503).header('retry-after', '1').send({ code: 'SERVICE_UNAVAILABLE', message: sheddingMessage });
  };
}
