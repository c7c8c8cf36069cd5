/**
 * The admin token lives in this tab's sessionStorage only: it is gone when the
 * tab closes, other tabs do not see it, and it is never put in a URL.
 */
const storageKey = 'commerce-admin-token';

export function storedToken(): string | undefined {
  try {
    return sessionStorage.getItem(storageKey) ?? undefined;
  } catch {
    return undefined; // Storage refused (a locked-down browser): sign in again each time.
  }
}

export function storeToken(token: string): void {
  try {
    sessionStorage.setItem(storageKey, token);
  } catch {
    // The console still works for this page's life.
  }
}

export function forgetToken(): void {
  try {
    sessionStorage.removeItem(storageKey);
  } catch {
    // Nothing stored.
  }
}
