/**
 * The console's one way to the service: the typed client from client/
 * (openapi-fetch over the service's OpenAPI document), with the signed-in
 * token. Answers come back as the body, or as an `ApiFailure` carrying the
 * service's `{code, message}`.
 */
import { createShopClient, isApiError, type ApiError } from '@commerce/client';
import { storedToken } from './session.js';

export const api = createShopClient({ baseUrl: window.location.origin, token: storedToken });

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiError,
  ) {
    super(body.message);
  }
}

const expiredListeners = new Set<() => void>();

/** Called when the service answers 401 to the signed-in token: it expired or the secret changed. */
export function onTokenRejected(listener: () => void): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

export async function unwrap<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch {
    throw new ApiFailure(0, { code: 'NETWORK_ERROR', message: '서버에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.' });
  }
  const { data, error, response } = answer;
  if (response.ok && data !== undefined) return data;
  if (response.status === 401) for (const listener of expiredListeners) listener();
  if (isApiError(error)) throw new ApiFailure(response.status, error);
  throw new ApiFailure(response.status, { code: 'UNEXPECTED_ANSWER', message: `예상하지 못한 응답입니다 (HTTP ${response.status}).` });
}

export function asApiError(error: unknown): ApiError {
  if (error instanceof ApiFailure) return error.body;
  return { code: 'CONSOLE_ERROR', message: '콘솔에서 오류가 발생했습니다. 새로고침해 주세요.' };
}
