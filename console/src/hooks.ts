/** State the views share: one page of a keyset-paged list, optionally polled; a form's submission. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { asApiError } from './api.js';
import { noErrors, type ApiErrorLike, type FormErrors } from './lib/fields.js';

export type Page<T> = { items: T[]; nextCursor: string | null };

export type Paged<T> = {
  items: T[] | undefined;
  error: ApiErrorLike | undefined;
  loading: boolean;
  page: number;
  hasNext: boolean;
  first: () => void;
  previous: () => void;
  next: () => void;
  reload: () => void;
};

/**
 * Pages through a list; `key` names what is listed (a user id, a filter), and a
 * new key starts again at page one. With `pollMs`, the page on screen is read
 * again on that interval while the tab is visible: the console's live view.
 */
export function usePaged<T>(key: string | undefined, fetchPage: (cursor: string | undefined) => Promise<Page<T>>, pollMs?: number): Paged<T> {
  // cursors[n] opens page n; page 0 has none.
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined]);
  const [page, setPage] = useState(0);
  const [result, setResult] = useState<Page<T> | undefined>(undefined);
  const [error, setError] = useState<ApiErrorLike | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [reloads, setReloads] = useState(0);
  const latest = useRef(0);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;

  useEffect(() => {
    setCursors([undefined]);
    setPage(0);
    setResult(undefined);
    setError(undefined);
  }, [key]);

  const cursor = cursors[page];
  useEffect(() => {
    if (key === undefined) return;
    let stopped = false;
    const load = async (quiet: boolean) => {
      const request = ++latest.current;
      if (!quiet) setLoading(true);
      try {
        const answer = await fetchRef.current(cursor);
        if (stopped || request !== latest.current) return;
        setResult(answer);
        setError(undefined);
      } catch (failure) {
        if (stopped || request !== latest.current) return;
        setError(asApiError(failure));
      } finally {
        if (!stopped && request === latest.current) setLoading(false);
      }
    };
    void load(false);
    if (pollMs === undefined) {
      return () => {
        stopped = true;
      };
    }
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load(true);
    }, pollMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [key, cursor, page, reloads, pollMs]);

  const nextCursor = result?.nextCursor ?? null;
  return {
    items: result?.items,
    error,
    loading,
    page,
    hasNext: nextCursor !== null,
    first: useCallback(() => setPage(0), []),
    previous: useCallback(() => setPage((current) => Math.max(0, current - 1)), []),
    next: () => {
      if (nextCursor === null) return;
      setCursors((known) => [...known.slice(0, page + 1), nextCursor]);
      setPage(page + 1);
    },
    reload: useCallback(() => setReloads((count) => count + 1), []),
  };
}

/** Reads one thing now and every `pollMs` while the tab is visible. */
export function usePolled<T>(fetchOnce: () => Promise<T>, pollMs: number): { value: T | undefined; error: ApiErrorLike | undefined; reload: () => void } {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiErrorLike | undefined>(undefined);
  const [reloads, setReloads] = useState(0);
  const fetchRef = useRef(fetchOnce);
  fetchRef.current = fetchOnce;
  useEffect(() => {
    let stopped = false;
    const load = async () => {
      try {
        const next = await fetchRef.current();
        if (!stopped) {
          setValue(next);
          setError(undefined);
        }
      } catch (failure) {
        if (!stopped) setError(asApiError(failure));
      }
    };
    void load();
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load();
    }, pollMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [pollMs, reloads]);
  return { value, error, reload: useCallback(() => setReloads((count) => count + 1), []) };
}

export type Submission = {
  errors: FormErrors;
  /** For what the form finds wrong itself, before any request. */
  setErrors: (errors: FormErrors) => void;
  busy: boolean;
  /**
   * Sends the form's request once: while it is out `busy` holds; when it
   * succeeds the errors clear and `onSent` gets the answer; when the service
   * refuses, `place` puts its error on the field it names (or the form).
   */
  send: <R>(request: () => Promise<R>, onSent: (answer: R) => void, place: (error: ApiErrorLike) => FormErrors) => Promise<void>;
};

/** The errors and the busy flag of one form, and the one way it sends. */
export function useSubmission(): Submission {
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const send = async <R>(request: () => Promise<R>, onSent: (answer: R) => void, place: (error: ApiErrorLike) => FormErrors) => {
    setBusy(true);
    try {
      const answer = await request();
      setErrors(noErrors);
      onSent(answer);
    } catch (failure) {
      setErrors(place(asApiError(failure)));
    } finally {
      setBusy(false);
    }
  };
  return { errors, setErrors, busy, send };
}
