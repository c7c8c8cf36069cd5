/**
 * The admin API the console runs on: orders of any user (find, list, cancel
 * for the user), a user's wallet, campaigns, and the recovery state. Every
 * route here needs the admin role.
 */
import assert from 'node:assert/strict';
import type { Api } from '../api.js';
import { validationError } from '../errors.js';
import { campaignToAdmin, listCampaigns } from '../coupons/queries.js';
import { OrderIdParams } from '../orders/schemas.js';
import { cancelOrder, journaledOrder, orderNotCancelable, orderNotFound, orderPositionAfter } from '../orders/service.js';
import { beforeAllIds, PageQuery, pageRequest } from '../pagination.js';
import { findBalance, listLedger } from '../points/queries.js';
import type { PendingEntry } from '../recovery/entries.js';
import { bearerSecurity, errorResponses } from '../schemas.js';
import { findAnyOrder, listAdminOrders, type AdminOrderFilter } from './queries.js';
import {
  AdminCampaignList,
  AdminOrderBody,
  AdminOrderList,
  AdminOrdersQuery,
  AdminWallet,
  RecoveryState,
  UserIdParams,
  journalEntriesMax,
  type AdminOrder,
} from './schemas.js';

const tags = ['admin'];

function journaledAdminOrder(entry: PendingEntry): AdminOrder {
  return { ...journaledOrder(entry), userId: entry.userId };
}

function orderFilter(query: AdminOrdersQuery): AdminOrderFilter {
  if (query.userId !== undefined) return { userId: query.userId, status: query.status };
  if (query.status === 'pending') return { userId: undefined, status: 'pending' };
  throw validationError('사용자 ID 없이는 처리 중(pending)인 주문만 조회할 수 있습니다.');
}

export async function adminRoutes(api: Api): Promise<void> {
  const { db, cursors, journal, productCache, recovery, requireAdmin } = api;
  api.addHook('onRequest', requireAdmin);
  const security = bearerSecurity;

  api.get(
    '/admin/orders',
    { schema: { tags, security, querystring: AdminOrdersQuery, response: { 200: AdminOrderList, ...errorResponses(403) } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const filter = orderFilter(request.query);
      // A cursor belongs to the filter it was issued for.
      const scope = `admin-orders:${filter.userId ?? ''}:${filter.status ?? ''}`;
      const rows = await listAdminOrders(db, filter, orderPositionAfter(cursors, scope, cursor), limit + 1);
      const page = cursors.page(scope, rows, limit, (row) => [row.position.createdAt, row.position.id]);
      // The journal's word wins: an order answered 202 is pending whatever the database holds yet.
      const orders = page.items.map(({ order }) => {
        const journaled = journal.find(order.orderId);
        return journaled === undefined ? order : journaledAdminOrder(journaled);
      });
      return { orders, nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/admin/orders/:id',
    { schema: { tags, security, params: OrderIdParams, response: { 200: AdminOrderBody, ...errorResponses(403, 404) } } },
    async (request) => {
      const journaled = journal.find(request.params.id);
      if (journaled !== undefined) return { order: journaledAdminOrder(journaled) };
      const order = await findAnyOrder(db, request.params.id);
      if (order === undefined) throw orderNotFound();
      return { order };
    },
  );

  api.post(
    '/admin/orders/:id/cancel',
    { schema: { tags, security, params: OrderIdParams, response: { 200: AdminOrderBody, ...errorResponses(403, 404, 409) } } },
    async (request) => {
      if (journal.find(request.params.id) !== undefined) throw orderNotCancelable();
      const order = await cancelOrder(db, undefined, request.params.id, 'ADMIN_CANCELED');
      if (order === undefined) throw orderNotFound();
      productCache.forget(order.items.map((item) => item.productId));
      // Orders are never deleted, so the one just canceled is there to read with its owner.
      const canceled = await findAnyOrder(db, order.orderId);
      assert.ok(canceled !== undefined, `canceled order ${order.orderId} vanished`);
      return { order: canceled };
    },
  );

  api.get(
    '/admin/users/:userId/wallet',
    {
      schema: { tags, security, params: UserIdParams, querystring: PageQuery, response: { 200: AdminWallet, ...errorResponses(403) } },
    },
    async (request) => {
      const { userId } = request.params;
      const { limit, cursor } = pageRequest(request.query);
      const scope = `admin-wallet:${userId}`;
      const beforeId = cursors.idOf(scope, cursor, beforeAllIds);
      // One snapshot, so the balance shown is the one the newest entry ends at.
      const { balance, rows } = await db.transaction(async (tx) => {
        await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        return { balance: await findBalance(tx, userId), rows: await listLedger(tx, userId, beforeId, limit + 1) };
      });
      const page = cursors.page(scope, rows, limit, (entry) => [entry.id]);
      return { userId, balance, entries: page.items, nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/admin/coupons',
    { schema: { tags, security, querystring: PageQuery, response: { 200: AdminCampaignList, ...errorResponses(403) } } },
    async (request) => {
      const { limit, cursor } = pageRequest(request.query);
      const beforeId = cursors.idOf('admin-coupons', cursor, beforeAllIds);
      const rows = await listCampaigns(db, beforeId, limit + 1);
      const page = cursors.page('admin-coupons', rows, limit, (campaign) => [campaign.id]);
      return { coupons: page.items.map(campaignToAdmin), nextCursor: page.nextCursor };
    },
  );

  api.get(
    '/admin/recovery',
    { schema: { tags, security, response: { 200: RecoveryState, ...errorResponses(403) } } },
    async () => {
      // Answered while the database is away too: that is when an operator looks here.
      let database: 'ready' | 'unavailable' = 'ready';
      try {
        await db.query('SELECT 1');
      } catch {
        database = 'unavailable';
      }
      const journaled = journal
        .unsettled()
        .sort((a, b) => a.at.localeCompare(b.at))
        .slice(0, journalEntriesMax)
        .map((entry) => ({ orderId: entry.orderId, userId: entry.userId, totalAmount: entry.totalAmount, at: entry.at }));
      return { database, ...recovery.status(), journal: journaled };
    },
  );
}
