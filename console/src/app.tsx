/** Sign-in, then the console: navigation from views.ts and the view the address names. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { isApiError } from '@commerce/client';
import { api, onTokenRejected } from './api.js';
import { ErrorLine } from './components/ui.js';
import type { ApiErrorLike } from './lib/fields.js';
import { parseRoute, routeHref, type Route } from './lib/route.js';
import { forgetToken, storedToken, storeToken } from './session.js';
import { views } from './views.js';

const defaultView = views[0]!.path;

/** What a refused token is told: the service's own message, after a sentence saying which case it is. */
function signInError(status: number, error: ApiErrorLike): ApiErrorLike {
  if (status === 401) return { ...error, message: `토큰이 올바르지 않거나 만료되었습니다. ${error.message}` };
  if (status === 403) return { ...error, message: `관리자 토큰이 아닙니다. ${error.message}` };
  return error;
}

function SignIn(props: { notice: string | undefined; onSignedIn: (token: string) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<ApiErrorLike | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);

  const submit = async (event: Event) => {
    event.preventDefault();
    const candidate = token.trim();
    setBusy(true);
    try {
      // The recovery state is cheap and answers even while the database is away.
      const { response, error: body } = await api.GET('/api/admin/recovery', { headers: { authorization: `Bearer ${candidate}` } });
      if (response.ok) return props.onSignedIn(candidate);
      setError(
        isApiError(body)
          ? signInError(response.status, body)
          : { code: 'UNEXPECTED_ANSWER', message: `예상하지 못한 응답입니다 (HTTP ${response.status}).` },
      );
    } catch {
      setError({ code: 'NETWORK_ERROR', message: '서버에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.' });
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="signin" id="main">
      <h1>관리 콘솔</h1>
      <p class="muted">
        관리자 토큰으로 로그인합니다. 토큰은 이 탭에만 보관되고, 탭을 닫으면 사라집니다. 개발용 토큰: <code>npm run token -- me --admin</code>
      </p>
      {props.notice === undefined ? null : (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <form onSubmit={submit} method="post" noValidate>
        <div class="field">
          <label for="admin-token">Admin token</label>
          <input
            ref={input}
            id="admin-token"
            name="admin-token"
            type="password"
            autoComplete="off"
            spellcheck={false}
            value={token}
            aria-invalid={error === undefined ? undefined : 'true'}
            aria-describedby={error === undefined ? undefined : 'admin-token-error'}
            onInput={(event) => setToken((event.currentTarget as HTMLInputElement).value)}
          />
          <ErrorLine error={error} id="admin-token-error" />
        </div>
        <button type="submit" disabled={busy || token.trim() === ''}>
          Sign in
        </button>
      </form>
    </main>
  );
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash, defaultView));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash, defaultView));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}

function Shell(props: { onSignOut: () => void }) {
  const route = useRoute();
  const view = views.find((candidate) => candidate.path === route.view) ?? views[0]!;
  const heading = useRef<HTMLHeadingElement>(null);
  const first = useRef(true);
  useEffect(() => {
    document.title = `${view.title} · 관리 콘솔`;
    // Moving to another view moves keyboard and screen-reader focus to its heading.
    if (!first.current) heading.current?.focus();
    first.current = false;
  }, [view.path]);
  const Component = view.component;
  return (
    <>
      {/* biome-ignore lint/a11y/useValidAnchor: a skip link is an anchor to #main; the hash is the router's, so focus moves by hand. */}
      <a class="skip" href="#main" onClick={(event) => {
        event.preventDefault();
        heading.current?.focus();
      }}>
        본문으로 건너뛰기
      </a>
      <header class="top">
        <span class="brand">관리 콘솔</span>
        <nav aria-label="관리 메뉴">
          <ul>
            {views.map((candidate) => (
              <li key={candidate.path}>
                <a href={routeHref(candidate.path)} aria-current={candidate.path === view.path ? 'page' : undefined}>
                  {candidate.name}
                  <span class="ko" aria-hidden="true">
                    {candidate.title}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="secondary" onClick={props.onSignOut}>
          로그아웃
        </button>
      </header>
      <main id="main">
        <h1 ref={heading} tabIndex={-1}>
          {view.title} <span class="muted">{view.name}</span>
        </h1>
        <Component key={view.path} param={route.param} />
      </main>
    </>
  );
}

export function App() {
  const [signedIn, setSignedIn] = useState(() => storedToken() !== undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  useEffect(
    () =>
      onTokenRejected(() => {
        forgetToken();
        setSignedIn(false);
        setNotice('토큰이 만료되었거나 더 이상 유효하지 않습니다. 다시 로그인해 주세요.');
      }),
    [],
  );
  if (!signedIn) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(token) => {
          storeToken(token);
          setNotice(undefined);
          setSignedIn(true);
        }}
      />
    );
  }
  return (
    <Shell
      onSignOut={() => {
        forgetToken();
        setNotice('로그아웃했습니다.');
        setSignedIn(false);
      }}
    />
  );
}
