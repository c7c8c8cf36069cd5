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
 *
 * Admission is also paced: at most `admitPerTurnMax` /api requests go on
 * past this hook per turn of the event loop, the rest wait their turn in
 * arrival order. 400 requests that arrive together are read in one poll
 * phase; without pacing all of their work (body, validation, pricing, the
 * answer) ran in that one phase, and `/health` waited for all of it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from './config.js';
import { countShed } from './metrics.js';

const sampleIntervalMs = 20;
/** A few milliseconds of request work per turn; `/health` waits at most for that, not for a whole burst. */
const admitPerTurnMax = 8;

export const sheddingMessage = '요청이 많아 지금은 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.';

export class LoadShedder {
  #lagMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #admittedThisTurn = 0;
  #turnScheduled = false;
  readonly #waiting: Array<() => void> = [];

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

  /** Starts the next turn's admissions: the count restarts, and waiting requests go first. */
  #nextTurn = (): void => {
    this.#admittedThisTurn = 0;
    while (this.#admittedThisTurn < admitPerTurnMax && this.#waiting.length > 0) {
      this.#admittedThisTurn++;
      this.#waiting.shift()!();
    }
    this.#turnScheduled = this.#waiting.length > 0 || this.#admittedThisTurn > 0;
    if (this.#turnScheduled) setImmediate(this.#nextTurn);
  };

  /** An onRequest hook (callback style: it runs on every /api request). */
  readonly hook = (_request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const reason = this.overloaded();
    if (reason !== undefined) {
      countShed(reason);
      void reply.code(503).header('retry-after', '1').send({ code: 'SERVICE_UNAVAILABLE', message: sheddingMessage });
      return;
    }
    if (this.#waiting.length === 0 && this.#admittedThisTurn < admitPerTurnMax) {
      this.#admittedThisTurn++;
      if (!this.#turnScheduled) {
        this.#turnScheduled = true;
        setImmediate(this.#nextTurn);
      }
      done();
      return;
    }
    this.#waiting.push(done);
  };
}
