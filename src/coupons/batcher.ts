/**
 * Group commit for claims (SPEC §6, §9.3). In a burst every claim that still
 * has a chance waits for the campaign's row lock, and each one used to pay a
 * whole commit while holding it. Here the claims of one campaign in this
 * process are gathered and issued together by `claim_coupons`: one statement,
 * one transaction, one commit for up to `claimBatchSizeMax` claims.
 *
 * Nothing waits on a timer: a claim that finds no batch in flight starts one
 * at once, alone; the claims that arrive meanwhile form the next batch, which
 * starts as soon as the one in flight is answered. The database still decides
 * every claim, so several processes batching side by side stay exact.
 */
import type { Queryable } from '../db.js';
import { claimCoupons, type ClaimOutcome } from './queries.js';

/** Claims issued by one statement at most; the rest wait for the next one. */
export const claimBatchSizeMax = 500;

type Waiter = {
  userId: string;
  now: Date;
  resolve: (outcome: ClaimOutcome) => void;
  reject: (error: unknown) => void;
};

export class ClaimBatcher {
  /**
   * Claims waiting for the next batch, by campaign id. A campaign has an entry
   * exactly while a batch of it is in flight. The queue needs no bound of its
   * own: it never holds more claims than there are requests in progress.
   */
  readonly #queues = new Map<number, Waiter[]>();

  constructor(private readonly db: Queryable) {}

  /** Resolves with this claim's outcome; rejects, for every claim of the batch, when its statement fails. */
  claim(campaignId: number, userId: string, now: Date): Promise<ClaimOutcome> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { userId, now, resolve, reject };
      const queue = this.#queues.get(campaignId);
      if (queue !== undefined) {
        queue.push(waiter);
        return;
      }
      const started = [waiter];
      this.#queues.set(campaignId, started);
      void this.#drain(campaignId, started);
    });
  }

  async #drain(campaignId: number, queue: Waiter[]): Promise<void> {
    while (queue.length > 0) {
      await this.#issue(campaignId, queue.splice(0, claimBatchSizeMax));
    }
    // No await since the queue was seen empty: no claim can have joined it.
    this.#queues.delete(campaignId);
  }

  async #issue(campaignId: number, batch: Waiter[]): Promise<void> {
    // Every claim was found inside the issue window at its own `now`, so the
    // latest of them is inside it too, and the closest to the real issue time.
    const now = new Date(Math.max(...batch.map((waiter) => waiter.now.getTime())));
    let outcomes: ClaimOutcome[];
    try {
      outcomes = await claimCoupons(this.db, campaignId, batch.map((waiter) => waiter.userId), now);
    } catch (error) {
      for (const waiter of batch) waiter.reject(error);
      return;
    }
    batch.forEach((waiter, index) => waiter.resolve(outcomes[index]!));
  }
}
