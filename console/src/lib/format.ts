/** How the console writes money, counts, times and statuses. */

const won = new Intl.NumberFormat('ko-KR');

export function formatWon(amount: number): string {
  return `${won.format(amount)}원`;
}

export function formatCount(value: number): string {
  return won.format(value);
}

/** Local time to the second, e.g. 2026. 11. 30. 14:05:09; '—' for none. */
export function formatTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString('ko-KR', { hour12: false });
}

export const orderStatusText: Readonly<Record<string, string>> = {
  pending: '처리 중',
  success: '결제 완료',
  failed: '실패',
  canceled: '취소됨',
};

export const reasonText: Readonly<Record<string, string>> = {
  USER_CANCELED: '사용자 취소',
  ADMIN_CANCELED: '관리자 취소',
  SYSTEM_FAILURE: '시스템 장애 복구',
  INSUFFICIENT_BALANCE: '잔액 부족',
  INSUFFICIENT_STOCK: '재고 부족',
  INVALID_COUPON: '쿠폰 사용 불가',
};

export const ledgerTypeText: Readonly<Record<string, string>> = { CHARGE: '충전', USE: '사용', REFUND: '환불' };

export function describeDiscount(campaign: { discountType: string; discountValue: number; maxDiscountAmount: number | null }): string {
  if (campaign.discountType === 'FIXED') return `${formatWon(campaign.discountValue)} 할인`;
  const cap = campaign.maxDiscountAmount === null ? '' : ` (최대 ${formatWon(campaign.maxDiscountAmount)})`;
  return `${campaign.discountValue}% 할인${cap}`;
}

/** Issued share of a campaign, 0–100, for a progress bar. */
export function issuedPercent(issued: number, total: number): number {
  if (total <= 0) return 0;
  return Math.min(100, Math.floor((issued * 100) / total));
}
