/**
 * The service's error vocabulary. A route throws an `AppError` with a stable
 * code; one handler (app.ts) turns it into `{code, message, ...fields}` with
 * the status this table gives. Anything else is a bug or an outage and is
 * answered without internals.
 */

export const errorStatus = {
  VALIDATION_ERROR: 400,
  CHARGE_UNIT: 400,
  CHARGE_BELOW_MINIMUM: 400,
  CHARGE_ABOVE_MAXIMUM: 400,
  BALANCE_LIMIT_EXCEEDED: 400,
  INVALID_COUPON: 400,
  WEBHOOK_URL_NOT_ALLOWED: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_BALANCE: 402,
  FORBIDDEN: 403,
  COUPON_NOT_ELIGIBLE: 403,
  NOT_FOUND: 404,
  PRODUCT_NOT_FOUND: 404,
  COUPON_NOT_FOUND: 404,
  ORDER_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  DELIVERY_NOT_FOUND: 404,
  DUPLICATE_REQUEST: 409,
  COUPON_ALREADY_ISSUED: 409,
  COUPON_CODE_TAKEN: 409,
  INSUFFICIENT_STOCK: 409,
  ORDER_NOT_CANCELABLE: 409,
  WEBHOOK_LIMIT_REACHED: 409,
  COUPON_SOLD_OUT: 410,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/**
 * An answer, not a fault: it is never logged, so it carries no stack trace
 * (capturing one was a tenth of the work of a sold-out coupon claim).
 */
export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra fields for the body, such as `orderId`. */
    readonly fields: Readonly<Record<string, unknown>> = {},
  ) {
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackTraceLimit;
    this.status = errorStatus[code];
  }
}

export const messages = {
  validation: '요청 형식이 올바르지 않습니다.',
  unauthorized: '인증이 필요합니다.',
  forbidden: '권한이 없습니다.',
  notFound: '요청한 경로를 찾을 수 없습니다.',
  productNotFound: '상품을 찾을 수 없습니다.',
  unavailable: '일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해 주세요.',
  internal: '서버 내부 오류가 발생했습니다.',
} as const;

export function productNotFound(): AppError {
  return new AppError('PRODUCT_NOT_FOUND', messages.productNotFound);
}

export function validationError(message: string = messages.validation): AppError {
  return new AppError('VALIDATION_ERROR', message);
}
