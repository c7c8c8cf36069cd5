import type { Api } from '../api.js';
import { beforeAllIds, PageQuery, pageRequest } from '../pagination.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import { findBalance, listLedger } from './queries.js';
import { Balance, ChargeBody, ChargeHeaders, ChargeResult, History } from './schemas.js';
import { chargePoints } from './service.js';

const tags = ['points'];
const historyScope = 'points-history';

export async function pointRoutes(api: Api): Promise<void> {
  const { db, cursors, config } = api;

  api.post(
    '/points/charge',
    {
      schema: {
        tags,
        security: bearerSecurity,
        headers: ChargeHeaders,
        body: ChargeBody,
        response: { 200: ChargeResult, ...errorResponses(409) },
      },
    },
    async (request) => {
      const { userId } = request.principal;
      const key = request.headers['idempotency-key'];
      const newBalance = await chargePoints(db, userId, request.body.amount, config.pointsMaxBalance, key);
      return { userId, newBalance };
    },
  );

  api.get(
    '/points',
    { schema: { tags, security: bearerSecurity, response: { 200: Balance, ...errorResponses() } } },
    async (request) => {
      const { userId } = request.principal;
      return { userId, balance: await findBalance(db, userId) };
    },
  );

  api.get(
    '/points/history',
    { schema: { tags, security: bearerSecurity, querystring: PageQuery, response: { 200: History, ...errorResponses() } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const beforeId = cursors.idOf(historyScope, cursor, beforeAllIds);
      const rows = await listLedger(db, request.principal.userId, beforeId, limit + 1);
      const page = cursors.page(historyScope, rows, limit, (entry) => [entry.id]);
      return { entries: page.items, nextCursor: page.nextCursor };
    },
  );
}
