/** Shapes shared by every feature: errors, ids in paths, the idempotency key. */
import { Type, type TString } from 'typebox';

export const ErrorBody = Type.Object(
  { code: Type.String(), message: Type.String() },
  { additionalProperties: true, description: 'Every error: a stable code and a Korean message, plus fields named per route.' },
);

/** Ids are positive integers; fifteen digits keep them exact as JS numbers. */
export const IdParams = Type.Object(
  { id: Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'a positive integer' }) },
  { additionalProperties: false },
);

export const idempotencyKeyLengthMax = 255;

/** The `idempotency-key` header's value, 1–255 characters, for every route that takes one. */
export function IdempotencyKey(description?: string): TString {
  return Type.String({ minLength: 1, maxLength: idempotencyKeyLengthMax, ...(description === undefined ? {} : { description }) });
}

export const bearerSecurity = [{ bearerAuth: [] }];

export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  const responses: Record<number, typeof ErrorBody> = { 400: ErrorBody, 401: ErrorBody };
  for (const status of statuses) responses[status] = ErrorBody;
  return responses;
}

/** Kept for src/orders/queries.ts, which still imports it from here; the function lives in time.ts. */
export { toIso } from './time.js';
