/** Recovery: what /ready reports (the journal's backlog, pending orders), this instance's journal, and the pending orders themselves. */
import { api, unwrap } from '../api.js';
import { ErrorLine, Pager, Section } from '../components/ui.js';
import { usePaged, usePolled } from '../hooks.js';
import { formatCount, formatTime, formatWon } from '../lib/format.js';
import { routeHref } from '../lib/route.js';
import { OrderTable } from './Orders.js';

const pollMs = 2_000;

export function RecoveryView() {
  const state = usePolled(() => unwrap(api.GET('/api/admin/recovery')), pollMs);
  const pending = usePaged(
    'pending',
    async (cursor) => {
      const answer = await unwrap(api.GET('/api/admin/orders', { params: { query: { status: 'pending', ...(cursor === undefined ? {} : { cursor }) } } }));
      return { items: answer.orders, nextCursor: answer.nextCursor };
    },
    pollMs,
  );
  const value = state.value;
  return (
    <>
      <Section title="복구 상태" actions={<span class="live">2초마다 갱신</span>}>
        <ErrorLine error={state.error} />
        {value === undefined ? null : (
          <dl class="facts">
            <dt>데이터베이스</dt>
            <dd data-testid="database-state">{value.database === 'ready' ? '정상 (ready)' : '연결 불가 (unavailable)'}</dd>
            <dt>저널 대기</dt>
            <dd>{formatCount(value.journalBacklog)}건</dd>
            <dt>처리 중 주문</dt>
            <dd>{formatCount(value.pendingOrders)}건</dd>
            <dt>마지막 점검</dt>
            <dd>{formatTime(value.lastSweepAt)}</dd>
            <dt>마지막 오류</dt>
            <dd>{value.lastError ?? '없음'}</dd>
          </dl>
        )}
      </Section>
      <Section title="이 인스턴스의 저널">
        {value === undefined ? null : value.journal.length === 0 ? (
          <p class="muted">저널에 남은 주문이 없습니다.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">저널에 남은 주문 (오래된 순)</caption>
              <thead>
                <tr>
                  <th scope="col">주문 ID</th>
                  <th scope="col">사용자</th>
                  <th scope="col" class="num">총액</th>
                  <th scope="col">202 응답 시각</th>
                </tr>
              </thead>
              <tbody>
                {value.journal.map((entry) => (
                  <tr key={entry.orderId}>
                    <td>
                      <a href={routeHref('orders', entry.orderId)}>
                        <code>{entry.orderId}</code>
                      </a>
                    </td>
                    <td>{entry.userId}</td>
                    <td class="num">{formatWon(entry.totalAmount)}</td>
                    <td>{formatTime(entry.at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title="처리 중(pending) 주문">
        <ErrorLine error={pending.error} />
        {pending.items === undefined ? null : <OrderTable orders={pending.items} caption="처리 중 주문 (최신 순)" />}
        <Pager label="처리 중 주문 페이지" list={pending} />
      </Section>
    </>
  );
}
