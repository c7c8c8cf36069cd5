/**
 * Group commit for claims (SPEC §6, §9.3). In a burst every claim that still
 * has a chance waits for the campaign's row lock, and each one used to pay a
 * whole commit while holding it. Here the claims of one campaign in this
 * process are gathered and issued together by `claim_coupons`: one statement,
 * one transaction, one commit for up to `claimBatchSizeMax` claims.
 *
 * The database still decides every claim, so several processes batching side
 * by side stay exact.
 */
import { KeyedBatcher } from '../batcher.js';
import type { Queryable } from '../db.js';
import { claimCoupons, type ClaimOutcome } from './queries.js';

/** Claims issued by one statement at most; the rest wait for the next one. */
export const claimBatchSizeMax = 500;

type Claim = { userId: string; now: Date };

/** Claims of one campaign by key; `submit` rejects, for every claim of the batch, when its statement fails. */
export type ClaimBatcher = KeyedBatcher<number, Claim, ClaimOutcome>;

export function makeClaimBatcher(db: Queryable): ClaimBatcher {
  return new KeyedBatcher(
    // Every claim was found inside the issue window at its own `now`, so the
    // latest of them is inside it too, and the closest to the real issue time.
    (campaignId, claims) =>
      claimCoupons(db, campaignId, claims.map((claim) => claim.userId), new Date(Math.max(...claims.map((claim) => claim.now.getTime())))),
    claimBatchSizeMax,
  );
}
