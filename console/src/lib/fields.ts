/**
 * Turning form text into request bodies, and the service's validation answers
 * back into messages next to the fields. The service owns every rule (ranges,
 * lengths, which fields go together); the console only needs numbers to be
 * numbers before a typed body can be sent.
 */

export type ApiErrorLike = { code: string; message: string; details?: string };

export const notAnInteger: ApiErrorLike = { code: 'NOT_AN_INTEGER', message: '정수를 입력해 주세요.' };

/** The integer the text spells (thousands separators allowed), or `undefined`. */
export function integerOf(text: string): number | undefined {
  const trimmed = text.trim().replaceAll(',', '');
  if (!/^-?\d{1,16}$/.test(trimmed)) return undefined;
  const value = Number(trimmed);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Reads the integer fields of a form: their values, or an error for each
 * field that is not an integer. Fields in `optional` may be left empty.
 */
export function readIntegers<K extends string>(
  text: Readonly<Record<K, string>>,
  optional: readonly NoInfer<K>[] = [],
): { values: Partial<Record<K, number>>; errors: Partial<Record<K, ApiErrorLike>> } {
  const values: Partial<Record<K, number>> = {};
  const errors: Partial<Record<K, ApiErrorLike>> = {};
  for (const field of Object.keys(text) as K[]) {
    if (text[field].trim() === '' && optional.includes(field)) continue;
    const value = integerOf(text[field]);
    if (value === undefined) errors[field] = notAnInteger;
    else values[field] = value;
  }
  return { values, errors };
}

/** One user id per line or comma; empty means everyone. */
export function userIdList(text: string): string[] | undefined {
  const ids = text
    .split(/[\n,]/)
    .map((id) => id.trim())
    .filter((id) => id !== '');
  return ids.length === 0 ? undefined : ids;
}

/**
 * The body field a 400 is about, read from the `details` line the service adds
 * to VALIDATION_ERROR (Ajv's wording: "body/price must be >= 0", "body must
 * have required property 'name'"), when it names one of `fields`.
 */
export function fieldOfError(error: ApiErrorLike, fields: readonly string[]): string | undefined {
  if (error.code !== 'VALIDATION_ERROR' || error.details === undefined) return undefined;
  const named = /^body\/([A-Za-z0-9_]+)/.exec(error.details) ?? /^body must have required property '([A-Za-z0-9_]+)'/.exec(error.details);
  const field = named?.[1];
  return field !== undefined && fields.includes(field) ? field : undefined;
}

export type FormErrors = { form?: ApiErrorLike; fields: Partial<Record<string, ApiErrorLike>> };

export const noErrors: FormErrors = { fields: {} };

/** Places an answer's error next to its field, or at the top of the form when it names none. */
export function placeError(error: ApiErrorLike, fields: readonly string[]): FormErrors {
  const field = fieldOfError(error, fields);
  return field === undefined ? { form: error, fields: {} } : { fields: { [field]: error } };
}

/** The fields of `next` that differ from `current`, for a PATCH that sends only what changed. */
export function changedFields<T extends object>(current: T, next: T): Partial<T> {
  const patch: Partial<T> = {};
  for (const key of Object.keys(next) as Array<keyof T>) if (next[key] !== current[key]) patch[key] = next[key];
  return patch;
}

/** `<input type="datetime-local">` gives local wall time without a zone; the service wants an instant. */
export function localDateTimeToIso(value: string): string | undefined {
  if (value.trim() === '') return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}
