import { Type, type Static } from 'typebox';
import { NextCursor } from '../pagination.js';

export const moneyMax = 1_000_000_000_000;
export const totalQuantityMax = 100_000_000;
export const validDaysMax = 3_650;
export const eligibleUsersMax = 10_000;

const Code = Type.String({ minLength: 1, maxLength: 64 });
const Money = (description: string) => Type.Integer({ minimum: 0, maximum: moneyMax, description });
const DateTime = Type.String({ format: 'date-time', maxLength: 40, description: 'ISO 8601 with a time zone' });
const NullableDate = Type.Union([Type.String({ format: 'date-time' }), Type.Null()]);

export const DiscountTypeSchema = Type.Union([Type.Literal('FIXED'), Type.Literal('RATE')]);
export type DiscountType = Static<typeof DiscountTypeSchema>;

export const CreateCampaign = Type.Object(
  {
    code: Code,
    name: Type.String({ minLength: 1, maxLength: 200 }),
    discountType: DiscountTypeSchema,
    discountValue: Type.Integer({ minimum: 1, maximum: moneyMax, description: 'won for FIXED; percent (1–100) for RATE' }),
    totalQuantity: Type.Integer({ minimum: 1, maximum: totalQuantityMax }),
    minOrderAmount: Type.Optional(Money('order total before discount needed to use the coupon; default 0')),
    maxDiscountAmount: Type.Optional(Money('cap of a RATE discount; RATE only')),
    validDays: Type.Optional(Type.Integer({ minimum: 1, maximum: validDaysMax, description: 'days from issue to expiry; default 30' })),
    issueStartsAt: Type.Optional(DateTime),
    issueEndsAt: Type.Optional(DateTime),
    eligibleUserIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { minItems: 1, maxItems: eligibleUsersMax, description: 'only these users may claim; absent = everyone' }),
    ),
  },
  { additionalProperties: false },
);
export type CreateCampaign = Static<typeof CreateCampaign>;

/** A campaign as an admin sees it: its terms and how many coupons it has issued. */
export const AdminCampaign = Type.Object(
  {
    id: Type.Integer(),
    code: Type.String(),
    name: Type.String(),
    discountType: DiscountTypeSchema,
    discountValue: Type.Integer(),
    totalQuantity: Type.Integer(),
    issuedQuantity: Type.Integer({ description: 'coupons issued so far; never above totalQuantity' }),
    minOrderAmount: Type.Integer(),
    maxDiscountAmount: Type.Union([Type.Integer(), Type.Null()]),
    validDays: Type.Integer(),
    issueStartsAt: NullableDate,
    issueEndsAt: NullableDate,
    eligibleUserIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A coupon campaign (admin view). The window includes issueStartsAt and excludes issueEndsAt.' },
);
export type AdminCampaign = Static<typeof AdminCampaign>;

export const AdminCampaignBody = Type.Object({ coupon: AdminCampaign });

export const CodeParams = Type.Object({ code: Code }, { additionalProperties: false });

export const CouponStatus = Type.Union([Type.Literal('AVAILABLE'), Type.Literal('USED'), Type.Literal('EXPIRED')]);
export type CouponStatus = Static<typeof CouponStatus>;

/** An issued coupon as its owner sees it; `id` is what an order names. */
export const UserCoupon = Type.Object({
  id: Type.Integer(),
  code: Type.String(),
  name: Type.String(),
  discountType: DiscountTypeSchema,
  discountValue: Type.Integer(),
  minOrderAmount: Type.Integer(),
  expiresAt: Type.String({ format: 'date-time' }),
  status: CouponStatus,
});
export type UserCoupon = Static<typeof UserCoupon>;

export const ClaimBody = Type.Object({ couponCode: Code }, { additionalProperties: false });
export const ClaimResult = Type.Object({ message: Type.String(), coupon: UserCoupon });
export const UserCouponList = Type.Object({ coupons: Type.Array(UserCoupon), nextCursor: NextCursor });
