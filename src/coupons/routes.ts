import type { Api } from '../api.js';
import { validationError } from '../errors.js';
import { beforeAllIds, PageQuery, pageRequest } from '../pagination.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import { campaignToAdmin, findCampaignByCode, listUserCoupons } from './queries.js';
import { AdminCampaignBody, ClaimBody, ClaimResult, CodeParams, CreateCampaign, UserCouponList } from './schemas.js';
import { couponMessages, couponNotFound, type CouponIssuer } from './service.js';

const tags = ['coupons'];

/** Rules across fields that a JSON schema cannot say. */
function checkCampaign(input: CreateCampaign): void {
  if (input.discountType === 'RATE' && input.discountValue > 100) throw validationError('정률 할인은 1~100% 사이여야 합니다.');
  if (input.discountType === 'FIXED' && input.maxDiscountAmount !== undefined) {
    throw validationError('최대 할인 금액은 정률 할인에만 지정할 수 있습니다.');
  }
  const starts = input.issueStartsAt === undefined ? undefined : Date.parse(input.issueStartsAt);
  const ends = input.issueEndsAt === undefined ? undefined : Date.parse(input.issueEndsAt);
  if (Number.isNaN(starts) || Number.isNaN(ends)) throw validationError('유효하지 않은 날짜입니다.');
  if (starts !== undefined && ends !== undefined && starts >= ends) throw validationError('발급 시작 시각은 종료 시각보다 빨라야 합니다.');
}

export async function couponRoutes(api: Api, issuer: CouponIssuer): Promise<void> {
  const { db, cursors, requireAdmin, now } = api;

  api.post(
    '/admin/coupons',
    {
      onRequest: requireAdmin,
      schema: { tags, security: bearerSecurity, body: CreateCampaign, response: { 201: AdminCampaignBody, ...errorResponses(403, 409) } },
    },
    async (request, reply) => {
      checkCampaign(request.body);
      const campaign = await issuer.createCampaign(request.body);
      return reply.code(201).send({ coupon: campaignToAdmin(campaign) });
    },
  );

  api.get(
    '/admin/coupons/:code',
    {
      onRequest: requireAdmin,
      schema: { tags, security: bearerSecurity, params: CodeParams, response: { 200: AdminCampaignBody, ...errorResponses(403, 404) } },
    },
    async (request) => {
      const campaign = await findCampaignByCode(db, request.params.code);
      if (campaign === undefined) throw couponNotFound();
      return { coupon: campaignToAdmin(campaign) };
    },
  );

  api.post(
    '/coupons',
    {
      schema: { tags, security: bearerSecurity, body: ClaimBody, response: { 200: ClaimResult, ...errorResponses(403, 404, 409, 410) } },
    },
    async (request) => {
      const coupon = await issuer.issue(request.principal.userId, request.body.couponCode);
      return { message: couponMessages.issued, coupon };
    },
  );

  api.get(
    '/coupons',
    { schema: { tags, security: bearerSecurity, querystring: PageQuery, response: { 200: UserCouponList, ...errorResponses() } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const beforeId = cursors.idOf('coupons', cursor, beforeAllIds);
      const rows = await listUserCoupons(db, request.principal.userId, beforeId, limit + 1, now());
      const page = cursors.page('coupons', rows, limit, (coupon) => [coupon.id]);
      return { coupons: page.items, nextCursor: page.nextCursor };
    },
  );
}
