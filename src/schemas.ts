/** Shapes shared by every feature: errors, ids in paths, the idempotency header. */
import { Type } from 'typebox';

export const ErrorBody = Type.Object(
  { code: Type.String(), message: Type.String() },
  { additionalProperties: true, description: 'Every error: a stable code and a Korean message, plus fields named per route.' },
);

/** Ids are positive integers; fifteen digits keep them exact as JS numbers. */
export const IdParams = Type.Object(
  { id: Type.String({ pattern: '^[1-9][0-9]{0,14}$', description: 'a positive integer' }) },
  { additionalProperties: false },
);

export const bearerSecurity = [{ bearerAuth: [] }];

export function errorResponses(...statuses: number[]): Record<number, typeof ErrorBody> {
  const responses: Record<number, typeof ErrorBody> = { 400: ErrorBody, 401: ErrorBody };
  for (const status of statuses) responses[status] = ErrorBody;
  return responses;
}

export function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
