/**
 * The configuration files of the cluster's PgBouncer and HAProxy, written
 * into the run's directory. Each setting that matters says why.
 */

export type PgbouncerSettings = {
  port: number;
  primaryPort: number;
  /** The database on the primary; clients name it the same. */
  database?: string;
  poolSize: number;
  dir: string;
};

export function pgbouncerIni(s: PgbouncerSettings): string {
  return `;; Written by scripts/cluster for this run.
[databases]
${s.database ?? 'postgres'} = host=127.0.0.1 port=${s.primaryPort} dbname=${s.database ?? 'postgres'}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${s.port}
unix_socket_dir = ${s.dir}/sockets
auth_type = trust
auth_file = ${s.dir}/userlist.txt
admin_users = postgres
; A server connection serves one transaction, then the next client's: the
; service runs with DB_POOL_MODE=transaction (no named statements, its
; limits set with SET LOCAL in each transaction, never as startup parameters).
pool_mode = transaction
; Server connections to the primary, shared by every instance's pool.
default_pool_size = ${s.poolSize}
min_pool_size = ${Math.min(4, s.poolSize)}
reserve_pool_size = 4
reserve_pool_timeout = 1
max_client_conn = 2000
server_check_delay = 1
server_connect_timeout = 2
query_wait_timeout = 10
pidfile = ${s.dir}/sockets/pgbouncer.pid
log_connections = 0
log_disconnections = 0
`;
}

export const pgbouncerUserlist = '"postgres" ""\n';

export type HaproxySettings = { port: number; instancePorts: readonly number[]; dir: string };

/**
 * Health checks on /ready every 500 ms (down after 2 failures, up after 2
 * successes); a request whose connection to an instance fails is sent to
 * another (nothing was sent, so this is safe for every method); only GET and
 * HEAD are also retried after a 503, an empty answer or a timeout, since
 * they change nothing. Soft stop (SIGUSR1) lets open requests finish.
 */
export function haproxyCfg(s: HaproxySettings): string {
  const servers = s.instancePorts.map((port, i) => `    server s${i + 1} 127.0.0.1:${port} check`).join('\n');
  return `# Written by scripts/cluster for this run.
global
    maxconn 4000
    nbthread 2
    hard-stop-after 20s
    log stderr format iso local0


defaults
    mode http
    log global
    # Only what went wrong: a killed instance, a timeout, a retry.
    option httplog
    option dontlog-normal
    option http-keep-alive
    timeout connect 2s
    timeout client 40s
    # Longer than the service's own request deadline (REQUEST_TIMEOUT_MS, 30 s).
    timeout server 35s
    timeout http-keep-alive 60s
    timeout queue 10s
    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 503
    errorfile 502 ${s.dir}/errors/502.http
    errorfile 503 ${s.dir}/errors/503.http
    errorfile 504 ${s.dir}/errors/504.http

frontend api
    bind 127.0.0.1:${s.port}
    # METH_GET matches GET and HEAD. Everything else is retried only when it never reached an instance.
    http-request disable-l7-retry if !METH_GET
    default_backend services

backend services
    balance leastconn
    option httpchk GET /ready
    http-check expect status 200
    default-server inter 500ms fastinter 200ms fall 2 rise 2 maxconn 256
${servers}
`;
}

/** HAProxy's own answers, in the service's error shape (SPEC §3). */
export function errorFiles(): Record<string, string> {
  const answer = (status: string, retryAfter: boolean, code: string, message: string) => {
    const body = JSON.stringify({ code, message });
    return [
      `HTTP/1.1 ${status}`,
      'content-type: application/json; charset=utf-8',
      'cache-control: no-store',
      ...(retryAfter ? ['retry-after: 1'] : []),
      `content-length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  };
  return {
    // The instance failed while answering: the request may have been carried out.
    '502.http': answer('502 Bad Gateway', true, 'UPSTREAM_FAILED', '서버 응답을 받지 못했습니다. 같은 Idempotency-Key로 다시 요청하면 처리 결과를 확인할 수 있습니다.'),
    '503.http': answer('503 Service Unavailable', true, 'SERVICE_UNAVAILABLE', '일시적으로 서비스를 이용할 수 없습니다. 잠시 후 다시 시도해 주세요.'),
    '504.http': answer('504 Gateway Timeout', true, 'UPSTREAM_TIMEOUT', '서버 응답 시간이 초과되었습니다. 같은 Idempotency-Key로 다시 요청하면 처리 결과를 확인할 수 있습니다.'),
  };
}
