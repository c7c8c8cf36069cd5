/**
 * The webhook admin rules: what a URL may be (http or https, no credentials,
 * and — unless WEBHOOK_ALLOW_PRIVATE — only public addresses), `*` standing
 * alone among event types, and a limit on the number of endpoints.
 */
import type { Database } from '../db.js';
import { AppError, validationError } from '../errors.js';
import { resolveTarget, TargetRefused } from './ssrf.js';
import { newWebhookSecret } from './signature.js';
import { countWebhooks, insertWebhook } from './webhook-queries.js';
import type { CreateWebhook, Webhook } from './schemas.js';

/** Every event is delivered to each endpoint, so their number bounds the work per event. */
export const webhooksMax = 100;

export const webhookMessages = {
  badUrl: '웹훅 주소는 http 또는 https URL이어야 합니다.',
  badTypes: "이벤트 유형 '*'는 단독으로만 지정할 수 있습니다.",
  urlNotAllowed: '허용되지 않는 웹훅 주소입니다.',
  notFound: '웹훅을 찾을 수 없습니다.',
  deliveryNotFound: '웹훅 전송 기록을 찾을 수 없습니다.',
  limitReached: `웹훅은 최대 ${webhooksMax}개까지 등록할 수 있습니다.`,
} as const;

export function checkEventTypes(types: readonly string[]): void {
  if (types.includes('*') && types.length > 1) throw validationError(webhookMessages.badTypes);
}

/** The URL, normalised, once it may receive deliveries; a 4xx otherwise. */
export async function checkWebhookUrl(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw validationError(webhookMessages.badUrl);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || url.username !== '' || url.password !== '') {
    throw validationError(webhookMessages.badUrl);
  }
  try {
    await resolveTarget(url.hostname, allowPrivate);
  } catch (error) {
    const reason = error instanceof TargetRefused ? error.message : `${url.hostname} does not resolve`;
    throw new AppError('WEBHOOK_URL_NOT_ALLOWED', webhookMessages.urlNotAllowed, { details: reason });
  }
  return url.toString();
}

export async function registerWebhook(db: Database, input: CreateWebhook, allowPrivate: boolean): Promise<Webhook & { secret: string }> {
  checkEventTypes(input.eventTypes);
  const url = await checkWebhookUrl(input.url, allowPrivate);
  // Two admins registering at the same moment may pass the limit by one; it bounds work, it is not a quota.
  if ((await countWebhooks(db)) >= webhooksMax) throw new AppError('WEBHOOK_LIMIT_REACHED', webhookMessages.limitReached);
  return insertWebhook(db, url, input.eventTypes, newWebhookSecret());
}
