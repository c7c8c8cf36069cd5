/** Wallets: a user's balance and ledger, newest first, in pages. */
import { useEffect, useId, useState } from 'preact/hooks';
import { api, unwrap } from '../api.js';
import { ErrorLine, Field, Pager, Section } from '../components/ui.js';
import { usePaged } from '../hooks.js';
import { formatTime, formatWon, ledgerTypeText } from '../lib/format.js';
import { routeHref } from '../lib/route.js';

export function WalletsView(props: { param: string | undefined }) {
  const id = useId();
  const [text, setText] = useState(props.param ?? '');
  useEffect(() => setText(props.param ?? ''), [props.param]);
  const userId = props.param;
  const [balance, setBalance] = useState<number | undefined>(undefined);
  useEffect(() => setBalance(undefined), [userId]);
  const list = usePaged(userId, async (cursor) => {
    const wallet = await unwrap(
      api.GET('/api/admin/users/{userId}/wallet', { params: { path: { userId: userId! }, query: cursor === undefined ? {} : { cursor } } }),
    );
    setBalance(wallet.balance);
    return { items: wallet.entries, nextCursor: wallet.nextCursor };
  });

  return (
    <>
      <Section title="지갑 조회">
        <form
          class="inline"
          role="search"
          aria-label="사용자 지갑 찾기"
          onSubmit={(event) => {
            event.preventDefault();
            if (text.trim() !== '') window.location.hash = routeHref('wallets', text.trim());
          }}
        >
          <Field id={`wallet${id}`} type="search" label="사용자 ID" value={text} onInput={setText} />
          <button type="submit">지갑 조회</button>
        </form>
      </Section>
      {userId === undefined ? null : (
        <Section title={`${userId}의 지갑`}>
          <ErrorLine error={list.error} />
          <p class="balance">
            잔액 <strong data-testid="wallet-balance">{balance === undefined ? '…' : formatWon(balance)}</strong>
          </p>
          {list.items === undefined ? null : list.items.length === 0 ? (
            <p class="muted">거래 내역이 없습니다.</p>
          ) : (
            <div class="table-wrap">
              <table>
                <caption class="visually-hidden">거래 내역 (최신 순)</caption>
                <thead>
                  <tr>
                    <th scope="col">번호</th>
                    <th scope="col">유형</th>
                    <th scope="col" class="num">금액</th>
                    <th scope="col" class="num">거래 후 잔액</th>
                    <th scope="col">주문</th>
                    <th scope="col">시각</th>
                  </tr>
                </thead>
                <tbody>
                  {list.items.map((entry) => (
                    <tr key={entry.id}>
                      <td>{entry.id}</td>
                      <td>
                        {ledgerTypeText[entry.type] ?? entry.type} ({entry.type})
                      </td>
                      <td class="num">
                        {entry.type === 'USE' ? '−' : '+'}
                        {formatWon(entry.amount)}
                      </td>
                      <td class="num">{formatWon(entry.balanceAfter)}</td>
                      <td>{entry.orderId === null ? '—' : <a href={routeHref('orders', entry.orderId)}>{entry.orderId.slice(0, 8)}…</a>}</td>
                      <td>{formatTime(entry.createdAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager label="거래 내역 페이지" list={list} />
        </Section>
      )}
    </>
  );
}
