import type { Database } from '../db.js';
import { AppError } from '../errors.js';
import { enqueueOrderEvents } from '../events/queries.js';
import { releaseEffects } from './compensation.js';
import { findOrder } from './queries.js';
import type { Order } from './schemas.js';
import { orderMessages } from './service.js';
import { transitionOrder } from './state.js';

/**
 * The user's cancel (SPEC §7): a `success` order becomes `canceled` and gives
 * everything back; any other status is 409. `undefined` when the order is not
 * the user's.
 */
export async function cancelOrder(db: Database, userId: string, orderId: string): Promise<Order | undefined> {
  return db.transaction(async (tx) => {
    const [owned] = await tx.query(`SELECT 1 FROM orders WHERE id = $1 AND user_id = $2`, [orderId, userId]);
    if (owned === undefined) return undefined;
    const moved = await transitionOrder(tx, orderId, 'success', 'canceled', 'USER_CANCELED');
    if (moved === undefined) throw new AppError('ORDER_NOT_CANCELABLE', orderMessages.notCancelable);
    await releaseEffects(tx, moved);
    await enqueueOrderEvents(tx, [orderId]);
    return findOrder(tx, userId, orderId);
  });
}
