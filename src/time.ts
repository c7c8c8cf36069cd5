/** Timestamps as the API shows them: ISO 8601 in UTC, whatever form the driver hands over. */
export function toIso(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}
