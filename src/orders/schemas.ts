import { Type, type Static } from 'typebox';
import { NextCursor } from '../pagination.js';
import { IdempotencyKey } from '../schemas.js';

export const orderLinesMax = 100;
export const lineQuantityMax = 10_000;

export const OrderStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('success'),
  Type.Literal('failed'),
  Type.Literal('canceled'),
]);
export type OrderStatus = Static<typeof OrderStatus>;

const PositiveId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

export const CreateOrderBody = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        { productId: PositiveId, quantity: Type.Integer({ minimum: 1, maximum: lineQuantityMax }) },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: orderLinesMax },
    ),
    couponId: Type.Optional(PositiveId),
  },
  { additionalProperties: false },
);
export type CreateOrderBody = Static<typeof CreateOrderBody>;

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': IdempotencyKey(),
});

export const OrderIdParams = Type.Object(
  { id: Type.String({ format: 'uuid', description: 'the orderId' }) },
  { additionalProperties: false },
);

export const OrderItem = Type.Object({ productId: Type.Integer(), quantity: Type.Integer(), unitPrice: Type.Integer() });
export type OrderItem = Static<typeof OrderItem>;

/** What every order answer shows of the order, whatever its status. */
const orderAmounts = {
  orderId: Type.String(),
  items: Type.Array(OrderItem),
  totalAmount: Type.Integer(),
  discountAmount: Type.Integer(),
  paidAmount: Type.Integer(),
  couponId: Type.Union([Type.Integer(), Type.Null()]),
  createdAt: Type.String(),
};

export const Order = Type.Object({ ...orderAmounts, status: OrderStatus, reason: Type.Union([Type.String(), Type.Null()]) });
export type Order = Static<typeof Order>;

export const PaidOrder = Type.Object({ ...orderAmounts, status: Type.Literal('success'), message: Type.String() });
export type PaidOrder = Static<typeof PaidOrder>;

export const PendingOrder = Type.Object({
  code: Type.Literal('ORDER_PENDING'),
  message: Type.String(),
  orderId: Type.String(),
  status: Type.Literal('pending'),
});

export const OrderBody = Type.Object({ order: Order });
export const OrderList = Type.Object({ orders: Type.Array(Order), nextCursor: NextCursor });
