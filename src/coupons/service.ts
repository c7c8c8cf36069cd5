/**
 * Coupon issuance (SPEC §6, seed 3-1, 3-2). The database decides every claim;
 * this layer adds the order of the checks (404, 403, 409, 410) and caches that
 * let the bulk of a burst — claims after the quota is gone — be answered
 * without a trip through the campaign's row lock, usually from memory.
 */
import { AppError } from '../errors.js';
import { isUniqueViolation, type Database } from '../db.js';
import { cacheLookups } from '../metrics.js';
import { toIso } from '../time.js';
import { makeClaimBatcher, type ClaimBatcher } from './batcher.js';
import { findCampaignByCode, hasCoupon, insertCampaign, listHolders, type Campaign } from './queries.js';
import type { CreateCampaign, UserCoupon } from './schemas.js';

export const couponMessages = {
  issued: '쿠폰이 발급되었습니다.',
  notFound: '쿠폰을 찾을 수 없습니다.',
  codeTaken: '이미 사용 중인 쿠폰 코드입니다.',
  alreadyIssued: '이미 발급받은 쿠폰입니다.',
  soldOut: '쿠폰 수량이 모두 소진되었습니다.',
  notEligible: '발급 대상이 아닙니다.',
} as const;

export const couponNotFound = () => new AppError('COUPON_NOT_FOUND', couponMessages.notFound);
const alreadyIssued = () => new AppError('COUPON_ALREADY_ISSUED', couponMessages.alreadyIssued);
const soldOut = () => new AppError('COUPON_SOLD_OUT', couponMessages.soldOut);
const notEligible = () => new AppError('COUPON_NOT_ELIGIBLE', couponMessages.notEligible);

/**
 * Campaigns never change after creation except for `issuedQuantity`, and a
 * campaign that ran out stays out (coupons are never given back to the quota),
 * so both the terms and the sold-out flag may be remembered for good.
 */
type CachedCampaign = { campaign: Campaign; eligible: ReadonlySet<string> | null; soldOut: boolean };

const campaignCacheSizeMax = 10_000;
/**
 * Once sold out, a campaign's holders never change (coupons are never deleted
 * nor returned to the quota), so for small quotas the whole list is kept and
 * a sold-out claim needs no database at all. Bounded in count and size.
 */
const holderSetsMax = 16;
const holderSetSizeMax = 100_000;

export class CouponIssuer {
  readonly #cache = new Map<string, CachedCampaign>();
  readonly #holders = new Map<number, Promise<ReadonlySet<string>>>();
  readonly #batcher: ClaimBatcher;

  constructor(
    private readonly db: Database,
    private readonly now: () => Date,
  ) {
    this.#batcher = makeClaimBatcher(db);
  }

  async createCampaign(input: CreateCampaign): Promise<Campaign> {
    try {
      return await insertCampaign(this.db, input);
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('COUPON_CODE_TAKEN', couponMessages.codeTaken);
      throw error;
    }
  }

  async issue(userId: string, code: string): Promise<UserCoupon> {
    const cached = await this.#campaign(code);
    if (cached === undefined) throw couponNotFound();
    const now = this.now();
    if (!isEligible(cached, userId, now)) throw notEligible();
    const { campaign } = cached;
    if (!cached.soldOut) {
      const outcome = await this.#batcher.submit(campaign.id, { userId, now });
      if (outcome.kind === 'issued') return issuedCoupon(campaign, outcome.couponId, outcome.expiresAt);
      if (outcome.kind === 'alreadyIssued') throw alreadyIssued();
      cached.soldOut = true;
    }
    // Sold out: a user who won a coupon (perhaps in a parallel request) still hears 409.
    if (await this.#holds(campaign, userId)) throw alreadyIssued();
    throw soldOut();
  }

  /** Whether the user holds a coupon of a sold-out campaign. */
  async #holds(campaign: Campaign, userId: string): Promise<boolean> {
    if (campaign.totalQuantity > holderSetSizeMax) return hasCoupon(this.db, campaign.id, userId);
    let holders = this.#holders.get(campaign.id);
    if (holders === undefined) {
      // Every increment committed together with its coupon row, so the list read after
      // the quota was seen exhausted is complete.
      holders = listHolders(this.db, campaign.id).then((ids) => new Set(ids));
      holders.catch(() => this.#holders.delete(campaign.id));
      if (this.#holders.size >= holderSetsMax) this.#holders.delete(this.#holders.keys().next().value!);
      this.#holders.set(campaign.id, holders);
    }
    return (await holders).has(userId);
  }

  async #campaign(code: string): Promise<CachedCampaign | undefined> {
    const hit = this.#cache.get(code);
    if (hit !== undefined) {
      cacheLookups.campaign.hit++;
      return hit;
    }
    cacheLookups.campaign.miss++;
    // Unknown codes are not remembered: the campaign may be created a moment later.
    const campaign = await findCampaignByCode(this.db, code);
    if (campaign === undefined) return undefined;
    const entry: CachedCampaign = {
      campaign,
      eligible: campaign.eligibleUserIds === null ? null : new Set(campaign.eligibleUserIds),
      soldOut: campaign.issuedQuantity >= campaign.totalQuantity,
    };
    if (this.#cache.size >= campaignCacheSizeMax) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(code, entry);
    return entry;
  }
}

/** The user is on the list (if there is one) and `now` is in [issueStartsAt, issueEndsAt). */
function isEligible({ campaign, eligible }: CachedCampaign, userId: string, now: Date): boolean {
  if (eligible !== null && !eligible.has(userId)) return false;
  const nowMs = now.getTime();
  if (campaign.issueStartsAt !== null && nowMs < campaign.issueStartsAt.getTime()) return false;
  if (campaign.issueEndsAt !== null && nowMs >= campaign.issueEndsAt.getTime()) return false;
  return true;
}

function issuedCoupon(campaign: Campaign, couponId: number, expiresAt: Date): UserCoupon {
  return {
    id: couponId,
    code: campaign.code,
    name: campaign.name,
    discountType: campaign.discountType,
    discountValue: campaign.discountValue,
    minOrderAmount: campaign.minOrderAmount,
    expiresAt: toIso(expiresAt),
    status: 'AVAILABLE',
  };
}
