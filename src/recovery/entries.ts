/**
 * What a journal file holds, line by line: an order answered 202 (`pending`)
 * and, later, that the database now holds its fate (`settled`). Both this
 * instance's journal (journal.ts) and the view of the other instances'
 * (peers.ts) read lines with `applyLine`.
 */
import type { PaymentInput } from '../orders/queries.js';

/**
 * The payment's input as sent, and when the client was told 202 (ISO). The
 * prices are those this process last knew (the payment reads its own under
 * lock and its answer was lost), so the amounts are an estimate: the record
 * of an order that never reached the database, and what a pending order
 * shows until recovery settles it.
 */
export type PendingEntry = Omit<PaymentInput, 'lines'> & {
  lines: Array<{ productId: number; quantity: number; unitPrice: number }>;
  totalAmount: number;
  discountAmount: number;
  at: string;
};

export type JournalRecord = { type: 'pending'; entry: PendingEntry } | { type: 'settled'; orderId: string };

export function recordLine(record: JournalRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/**
 * Applies one line to the unsettled entries by order id. A line that does not
 * parse is a torn last line (a crash mid-write, never answered 202) and is ignored.
 */
export function applyLine(unsettled: Map<string, PendingEntry>, line: string): void {
  if (line === '') return;
  let record: JournalRecord;
  try {
    record = JSON.parse(line) as JournalRecord;
  } catch {
    return;
  }
  if (record.type === 'pending') unsettled.set(record.entry.orderId, record.entry);
  else unsettled.delete(record.orderId);
}
