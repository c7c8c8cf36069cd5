import type { Database } from '../db.js';
import { AppError } from '../errors.js';
import { enqueueOrderEvents } from '../events/queries.js';
import { releaseEffects } from './compensation.js';
import { findOrder } from './queries.js';
import type { Order } from './schemas.js';
import { orderMessages } from './service.js';
import { transitionOrder, type CancelReason } from './state.js';

/**
 * The user's cancel (SPEC §7), and an admin's for the user: a `success` order
 * becomes `canceled` and gives everything back; any other status is 409.
 * `owner` undefined is an admin acting on anyone's order; `undefined` comes
 * back when the order does not exist or is not the owner's.
 */
export async function cancelOrder(
  db: Database,
  owner: string | undefined,
  orderId: string,
  reason: Exclude<CancelReason, 'SYSTEM_FAILURE'> = 'USER_CANCELED',
): Promise<Order | undefined> {
  return db.transaction(async (tx) => {
    const [row] = await tx.query<{ user_id: string }>(`SELECT user_id FROM orders WHERE id = $1`, [orderId]);
    if (row === undefined || (owner !== undefined && row.user_id !== owner)) return undefined;
    const moved = await transitionOrder(tx, orderId, 'success', 'canceled', reason);
    if (moved === undefined) throw new AppError('ORDER_NOT_CANCELABLE', orderMessages.notCancelable);
    await releaseEffects(tx, moved);
    await enqueueOrderEvents(tx, [orderId]);
    return findOrder(tx, row.user_id, orderId);
  });
}
