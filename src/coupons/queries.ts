/**
 * SQL for campaigns and issuance. The rules that must hold under concurrency
 * (quota, one coupon per user) are decided here by the database, in single
 * statements, never by a read followed by a write in the application.
 */
import assert from 'node:assert/strict';
import type { Queryable } from '../db.js';
import { toIso } from '../schemas.js';
import type { AdminCampaign, CouponStatus, CreateCampaign, DiscountType, UserCoupon } from './schemas.js';

type CampaignRow = {
  id: number;
  code: string;
  name: string;
  discount_type: DiscountType;
  discount_value: number;
  total_quantity: number;
  issued_quantity: number;
  min_order_amount: number;
  max_discount_amount: number | null;
  valid_days: number;
  issue_starts_at: Date | null;
  issue_ends_at: Date | null;
  eligible_user_ids: string[] | null;
  created_at: Date;
};

/** A campaign's terms. Everything but `issuedQuantity` is fixed at creation, so it may be cached. */
export type Campaign = Readonly<{
  id: number;
  code: string;
  name: string;
  discountType: DiscountType;
  discountValue: number;
  totalQuantity: number;
  issuedQuantity: number;
  minOrderAmount: number;
  maxDiscountAmount: number | null;
  validDays: number;
  issueStartsAt: Date | null;
  issueEndsAt: Date | null;
  eligibleUserIds: readonly string[] | null;
  createdAt: Date;
}>;

const campaignColumns = `id, code, name, discount_type, discount_value, total_quantity, issued_quantity, min_order_amount,
  max_discount_amount, valid_days, issue_starts_at, issue_ends_at, eligible_user_ids, created_at`;

function rowToCampaign(row: CampaignRow): Campaign {
  return {
    id: row.id,
    code: row.code,
    name: row.name,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    totalQuantity: row.total_quantity,
    issuedQuantity: row.issued_quantity,
    minOrderAmount: row.min_order_amount,
    maxDiscountAmount: row.max_discount_amount,
    validDays: row.valid_days,
    issueStartsAt: row.issue_starts_at === null ? null : new Date(row.issue_starts_at),
    issueEndsAt: row.issue_ends_at === null ? null : new Date(row.issue_ends_at),
    eligibleUserIds: row.eligible_user_ids,
    createdAt: new Date(row.created_at),
  };
}

export function campaignToAdmin(campaign: Campaign): AdminCampaign {
  return {
    ...campaign,
    issueStartsAt: campaign.issueStartsAt === null ? null : toIso(campaign.issueStartsAt),
    issueEndsAt: campaign.issueEndsAt === null ? null : toIso(campaign.issueEndsAt),
    eligibleUserIds: campaign.eligibleUserIds === null ? null : [...campaign.eligibleUserIds],
    createdAt: toIso(campaign.createdAt),
  };
}

/** Throws a unique violation when the code is taken. */
export async function insertCampaign(db: Queryable, input: CreateCampaign): Promise<Campaign> {
  const [row] = await db.query<CampaignRow>(
    `INSERT INTO coupon_campaigns (code, name, discount_type, discount_value, total_quantity, min_order_amount,
       max_discount_amount, valid_days, issue_starts_at, issue_ends_at, eligible_user_ids)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${campaignColumns}`,
    [
      input.code,
      input.name,
      input.discountType,
      input.discountValue,
      input.totalQuantity,
      input.minOrderAmount ?? 0,
      input.maxDiscountAmount ?? null,
      input.validDays ?? 30,
      input.issueStartsAt ?? null,
      input.issueEndsAt ?? null,
      input.eligibleUserIds ?? null,
    ],
  );
  return rowToCampaign(row!);
}

export async function findCampaignByCode(db: Queryable, code: string): Promise<Campaign | undefined> {
  const [row] = await db.query<CampaignRow>(`SELECT ${campaignColumns} FROM coupon_campaigns WHERE code = $1`, [code]);
  return row === undefined ? undefined : rowToCampaign(row);
}

/** Campaigns newest first, with ids below `beforeId`; `limit` rows at most. */
export async function listCampaigns(db: Queryable, beforeId: number, limit: number): Promise<Campaign[]> {
  const rows = await db.query<CampaignRow>(
    `SELECT ${campaignColumns} FROM coupon_campaigns WHERE id < $1 ORDER BY id DESC LIMIT $2`,
    [beforeId, limit],
  );
  return rows.map(rowToCampaign);
}

export type ClaimOutcome =
  | { kind: 'issued'; couponId: number; expiresAt: Date }
  | { kind: 'alreadyIssued' }
  /** No quota was left for this user, who holds no coupon of the campaign. */
  | { kind: 'soldOut' };

/**
 * Claims coupons for a batch of users in one statement, one transaction and
 * so one commit (`claim_coupons`, migrations/006): under the campaign's row
 * lock, users who hold a coupon are told so, and the remaining quota goes to
 * the others in the order of `userIds`, which may name a user more than once.
 * The outcomes come back in the order of `userIds`.
 */
export async function claimCoupons(db: Queryable, campaignId: number, userIds: readonly string[], now: Date): Promise<ClaimOutcome[]> {
  const rows = await db.query<{ slot: number; outcome: 'issued' | 'already' | 'soldout'; coupon_id: number | null; coupon_expires_at: Date | null }>(
    'SELECT slot, outcome, coupon_id, coupon_expires_at FROM claim_coupons($1, $2, $3)',
    [campaignId, userIds, now],
  );
  assert.equal(rows.length, userIds.length, 'one outcome per claim');
  return rows.map((row, index): ClaimOutcome => {
    assert.equal(row.slot, index + 1, 'outcomes in the order of the claims');
    if (row.outcome === 'already') return { kind: 'alreadyIssued' };
    if (row.outcome === 'soldout') return { kind: 'soldOut' };
    assert.ok(row.coupon_id !== null && row.coupon_expires_at !== null, 'an issued claim names its coupon');
    return { kind: 'issued', couponId: row.coupon_id, expiresAt: new Date(row.coupon_expires_at) };
  });
}

/** A cheap indexed read (the unique key); takes no lock. */
export async function hasCoupon(db: Queryable, campaignId: number, userId: string): Promise<boolean> {
  const rows = await db.query('SELECT 1 FROM coupons WHERE campaign_id = $1 AND user_id = $2', [campaignId, userId]);
  return rows.length > 0;
}

/** Everyone holding a coupon of the campaign; final once the campaign is sold out. */
export async function listHolders(db: Queryable, campaignId: number): Promise<string[]> {
  const rows = await db.query<{ user_id: string }>('SELECT user_id FROM coupons WHERE campaign_id = $1', [campaignId]);
  return rows.map((row) => row.user_id);
}

type UserCouponRow = {
  id: number;
  code: string;
  name: string;
  discount_type: DiscountType;
  discount_value: number;
  min_order_amount: number;
  expires_at: Date;
  status: CouponStatus;
};

/** A user's coupons, newest first, with ids below `beforeId`; EXPIRED is derived from `now`, never stored. */
export async function listUserCoupons(db: Queryable, userId: string, beforeId: number, limit: number, now: Date): Promise<UserCoupon[]> {
  const rows = await db.query<UserCouponRow>(
    `SELECT c.id, k.code, k.name, k.discount_type, k.discount_value, k.min_order_amount, c.expires_at,
            CASE WHEN c.status = 'AVAILABLE' AND c.expires_at <= $4::timestamptz THEN 'EXPIRED' ELSE c.status END AS status
       FROM coupons c JOIN coupon_campaigns k ON k.id = c.campaign_id
      WHERE c.user_id = $1 AND c.id < $2
      ORDER BY c.id DESC LIMIT $3`,
    [userId, beforeId, limit, now],
  );
  return rows.map((row) => ({
    id: row.id,
    code: row.code,
    name: row.name,
    discountType: row.discount_type,
    discountValue: row.discount_value,
    minOrderAmount: row.min_order_amount,
    expiresAt: toIso(row.expires_at),
    status: row.status,
  }));
}
