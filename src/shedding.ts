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
 * Admission is also paced: per turn of the event loop at most
 * `admitPerTurnMax` /api requests go on past this hook and at most
 * `shedPerTurnMax` are answered 503; the rest wait their turn in arrival
 * order, and each is judged when its turn comes. 400 requests that arrive
 * together are read in one poll phase; without pacing all of their work
 * (body, validation, pricing, the answer, or the 503) ran in that one
 * phase, and `/health` waited for all of it.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Api } from './api.js';
import type { Config } from './config.js';
import { countShed } from './metrics.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Its hook is the first of every /api route (src/api.ts). */
    shedder: LoadShedder;
  }
}

const sampleIntervalMs = 20;
/** A few milliseconds of request work per turn; `/health` waits at most for that, not for a whole burst. */
const admitPerTurnMax = 8;
/** A 503 costs a fraction of an admitted request. */
const shedPerTurnMax = 32;

export const sheddingMessage = '요청이 많아 지금은 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.';

export class LoadShedder {
  #lagMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #admittedThisTurn = 0;
  #shedThisTurn = 0;
  #turnScheduled = false;
  readonly #waiting: Array<{ reply: FastifyReply; done: () => void }> = [];

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

  /**
   * Admits or sheds one request if this turn still has room for it; false
   * when it must wait for the next turn.
   */
  #judge(reply: FastifyReply, done: () => void): boolean {
    const reason = this.overloaded();
    if (reason === undefined) {
      if (this.#admittedThisTurn >= admitPerTurnMax) return false;
      this.#admittedThisTurn++;
      this.#scheduleTurn();
      done();
      return true;
    }
    if (this.#shedThisTurn >= shedPerTurnMax) return false;
    this.#shedThisTurn++;
    this.#scheduleTurn();
    countShed(reason);
    void reply.code(503).header('retry-after', '1').send({ code: 'SERVICE_UNAVAILABLE', message: sheddingMessage });
    return true;
  }

  #scheduleTurn(): void {
    if (this.#turnScheduled) return;
    this.#turnScheduled = true;
    setImmediate(this.#nextTurn);
  }

  /** The next turn: the counts restart, and the requests waiting go first. */
  #nextTurn = (): void => {
    this.#turnScheduled = false;
    this.#admittedThisTurn = 0;
    this.#shedThisTurn = 0;
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0]!;
      if (!this.#judge(next.reply, next.done)) break;
      this.#waiting.shift();
    }
    // Requests still waiting, or a turn that did work: the counts must restart once more.
    if (this.#waiting.length > 0 || this.#admittedThisTurn + this.#shedThisTurn > 0) this.#scheduleTurn();
  };

  /** An onRequest hook (callback style: it runs on every /api request). */
  readonly hook = (_request: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    if (this.#waiting.length === 0 && this.#judge(reply, done)) return;
    this.#waiting.push({ reply, done });
    this.#scheduleTurn();
  };
}

export type LoadSheddingOptions = {
  /** Database calls waiting, wherever they wait; read per request, never before the app is ready. */
  dbWaiting: () => number;
};

export const loadShedding = fp(
  async (app: Api, options: LoadSheddingOptions) => {
    const shedder = LoadShedder.fromConfig(app.config, options.dbWaiting);
    shedder.start();
    app.addHook('onClose', async () => shedder.stop());
    app.decorate('shedder', shedder);
  },
  { name: 'load-shedding', dependencies: ['core'] },
);
