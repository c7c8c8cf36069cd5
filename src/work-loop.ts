/**
 * A background loop that runs one step after another: at once while a step
 * says there is more to do, after `idleMs` when it found nothing, and after
 * a growing pause (up to `errorPauseMaxMs`) while steps fail. `stop()` ends
 * the wait and resolves once the current step has finished.
 */
import type { FastifyBaseLogger } from 'fastify';

const errorPauseMaxMs = 5_000;

export class WorkLoop {
  readonly #name: string;
  readonly #step: () => Promise<boolean>;
  readonly #idleMs: number;
  readonly #log: FastifyBaseLogger;
  #running: Promise<void> | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  /** `step` resolves true when it should run again at once. */
  constructor(name: string, step: () => Promise<boolean>, idleMs: number, log: FastifyBaseLogger) {
    this.#name = name;
    this.#step = step;
    this.#idleMs = idleMs;
    this.#log = log;
  }

  start(): void {
    this.#stopped = false;
    this.#running ??= this.#run();
  }

  /** Cuts the current wait short (new work arrived). */
  nudge(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.nudge();
    await this.#running;
    this.#running = undefined;
  }

  async #pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
    });
    clearTimeout(this.#timer);
    this.#wake = undefined;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      let again = false;
      try {
        again = await this.#step();
        failures = 0;
      } catch (error) {
        failures += 1;
        this.#log.warn({ err: error, failures }, `${this.#name} step failed`);
      }
      if (this.#stopped) break;
      if (failures > 0) await this.#pause(Math.min(errorPauseMaxMs, this.#idleMs * 2 ** Math.min(failures, 16)));
      else if (!again) await this.#pause(this.#idleMs);
    }
  }
}
