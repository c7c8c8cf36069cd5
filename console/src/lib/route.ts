/**
 * The console's address is its hash, `#/<view>[/<id>]`: a static page needs no
 * server routes, and an order id or user id in it can be bookmarked. Tokens
 * are never part of it.
 */
export type Route = { view: string; param: string | undefined };

export function parseRoute(hash: string, fallback: string): Route {
  const [view, ...rest] = hash.replace(/^#\/?/, '').split('/');
  const param = rest.length === 0 ? undefined : decodeURIComponent(rest.join('/'));
  return { view: view === undefined || view === '' ? fallback : view, param: param === '' ? undefined : param };
}

export function routeHref(view: string, param?: string): string {
  return param === undefined ? `#/${view}` : `#/${view}/${encodeURIComponent(param)}`;
}
