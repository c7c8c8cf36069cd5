/** Shapes of the admin API the console uses; each feeds validation, the TypeScript type and the OpenAPI document. */
import { Type, type Static } from 'typebox';
import { AdminCampaign } from '../coupons/schemas.js';
import { NextCursor, PageQuery } from '../pagination.js';
import { LedgerEntry } from '../points/schemas.js';
import { Order, OrderStatus } from '../orders/schemas.js';

/** Longest list of journal entries one answer shows; the count is always whole. */
export const journalEntriesMax = 100;

/** A user id as tokens carry it (`sub`, 1–64 characters); PostgreSQL cannot store a NUL. */
const UserId = (description: string) => Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\u0000]*$', description });

export const UserIdParams = Type.Object({ userId: UserId("a user id, as in a token's sub") }, { additionalProperties: false });

export const AdminOrder = Type.Object({ ...Order.properties, userId: Type.String() }, { description: 'An order as an admin sees it: whose it is, too.' });
export type AdminOrder = Static<typeof AdminOrder>;

export const AdminOrderBody = Type.Object({ order: AdminOrder });
export const AdminOrderList = Type.Object({ orders: Type.Array(AdminOrder), nextCursor: NextCursor });

export const AdminOrdersQuery = Type.Object(
  {
    ...PageQuery.properties,
    userId: Type.Optional(UserId('whose orders; required unless status is pending')),
    status: Type.Optional(OrderStatus),
  },
  { additionalProperties: false },
);
export type AdminOrdersQuery = Static<typeof AdminOrdersQuery>;

export const AdminWallet = Type.Object({
  userId: Type.String(),
  balance: Type.Integer(),
  entries: Type.Array(LedgerEntry, { description: 'newest first' }),
  nextCursor: NextCursor,
});

export const AdminCampaignList = Type.Object({ coupons: Type.Array(AdminCampaign, { description: 'newest first' }), nextCursor: NextCursor });

export const JournalEntry = Type.Object({
  orderId: Type.String(),
  userId: Type.String(),
  totalAmount: Type.Integer(),
  at: Type.String({ description: 'when the client was told 202' }),
});

export const RecoveryState = Type.Object({
  database: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]),
  journalBacklog: Type.Integer({ description: 'orders this instance answered 202 that the database does not yet hold as pending' }),
  pendingOrders: Type.Integer({ description: 'pending orders in the database at the last sweep' }),
  lastSweepAt: Type.Union([Type.String(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  journal: Type.Array(JournalEntry, { maxItems: journalEntriesMax, description: 'the oldest unsettled journal entries of this instance' }),
});
