/** Orders: find one by id or list a user's, see everything about it, and cancel a paid one for the user. */
import { useEffect, useId, useState } from 'preact/hooks';
import type { paths } from '@commerce/client';
import { api, asApiError, unwrap } from '../api.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { ErrorLine, Field, Pager, Section, StatusBadge } from '../components/ui.js';
import { usePaged } from '../hooks.js';
import type { ApiErrorLike } from '../lib/fields.js';
import { formatTime, formatWon, reasonText } from '../lib/format.js';
import { routeHref } from '../lib/route.js';

type Order = paths['/api/admin/orders/{id}']['get']['responses'][200]['content']['application/json']['order'];
type OrderStatus = Order['status'];
const statuses: OrderStatus[] = ['success', 'failed', 'canceled', 'pending'];

function Reason(props: { reason: string | null }) {
  if (props.reason === null) return <>—</>;
  return (
    <>
      {reasonText[props.reason] ?? props.reason} (<code>{props.reason}</code>)
    </>
  );
}

async function balanceOf(userId: string): Promise<number> {
  const wallet = await unwrap(api.GET('/api/admin/users/{userId}/wallet', { params: { path: { userId }, query: { limit: 1 } } }));
  return wallet.balance;
}

function OrderDetail(props: { orderId: string; onChanged: () => void }) {
  const [order, setOrder] = useState<Order | undefined>(undefined);
  const [balance, setBalance] = useState<number | undefined>(undefined);
  const [error, setError] = useState<ApiErrorLike | undefined>(undefined);
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  useEffect(() => {
    let stopped = false;
    setOrder(undefined);
    setBalance(undefined);
    setError(undefined);
    setNotice(undefined);
    (async () => {
      const found = await unwrap(api.GET('/api/admin/orders/{id}', { params: { path: { id: props.orderId } } }));
      if (stopped) return;
      setOrder(found.order);
      const userBalance = await balanceOf(found.order.userId);
      if (!stopped) setBalance(userBalance);
    })().catch((failure: unknown) => {
      if (!stopped) setError(asApiError(failure));
    });
    return () => {
      stopped = true;
    };
  }, [props.orderId]);

  const cancel = async () => {
    if (order === undefined) return;
    setBusy(true);
    try {
      const answer = await unwrap(api.POST('/api/admin/orders/{id}/cancel', { params: { path: { id: order.orderId } } }));
      setOrder(answer.order);
      setError(undefined);
      setNotice(`주문을 취소했습니다. ${formatWon(answer.order.paidAmount)}이 환불되었습니다.`);
      setBalance(await balanceOf(answer.order.userId));
      props.onChanged();
    } catch (failure) {
      setError(asApiError(failure));
    } finally {
      setBusy(false);
      setConfirming(false);
    }
  };

  return (
    <Section title={`주문 ${props.orderId}`}>
      <ErrorLine error={error} />
      <p role="status" class="done">
        {notice}
      </p>
      {order === undefined ? null : (
        <>
          <dl class="facts">
            <dt>상태</dt>
            <dd data-testid="order-status">
              <StatusBadge status={order.status} />
            </dd>
            <dt>사유</dt>
            <dd data-testid="order-reason">
              <Reason reason={order.reason} />
            </dd>
            <dt>사용자</dt>
            <dd>
              <a href={routeHref('wallets', order.userId)}>{order.userId}</a>
            </dd>
            <dt>사용자 잔액</dt>
            <dd data-testid="user-balance">{balance === undefined ? '…' : formatWon(balance)}</dd>
            <dt>주문 시각</dt>
            <dd>{formatTime(order.createdAt)}</dd>
            <dt>총액</dt>
            <dd>{formatWon(order.totalAmount)}</dd>
            <dt>할인</dt>
            <dd>{formatWon(order.discountAmount)}</dd>
            <dt>결제 금액</dt>
            <dd>{formatWon(order.paidAmount)}</dd>
            <dt>쿠폰</dt>
            <dd>{order.couponId === null ? '없음' : `#${order.couponId}`}</dd>
          </dl>
          <div class="table-wrap">
            <table>
              <caption>주문 상품</caption>
              <thead>
                <tr>
                  <th scope="col">상품 ID</th>
                  <th scope="col" class="num">수량</th>
                  <th scope="col" class="num">단가</th>
                  <th scope="col" class="num">금액</th>
                </tr>
              </thead>
              <tbody>
                {order.items.map((item) => (
                  <tr key={item.productId}>
                    <td>{item.productId}</td>
                    <td class="num">{item.quantity}</td>
                    <td class="num">{formatWon(item.unitPrice)}</td>
                    <td class="num">{formatWon(item.unitPrice * item.quantity)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {order.status === 'success' ? (
            <button type="button" class="danger" onClick={() => setConfirming(true)}>
              주문 취소
            </button>
          ) : null}
          <ConfirmDialog
            open={confirming}
            title="주문을 취소할까요?"
            confirmLabel="취소 확정"
            cancelLabel="돌아가기"
            busy={busy}
            onConfirm={() => void cancel()}
            onCancel={() => setConfirming(false)}
          >
            <p>
              사용자 {order.userId}의 주문을 관리자 취소(<code>ADMIN_CANCELED</code>)합니다. 결제 금액 {formatWon(order.paidAmount)}이 환불되고,
              재고와 쿠폰이 돌아갑니다. 되돌릴 수 없습니다.
            </p>
          </ConfirmDialog>
        </>
      )}
    </Section>
  );
}

function FindOrder() {
  const id = useId();
  const [text, setText] = useState('');
  return (
    <form
      class="inline"
      role="search"
      aria-label="주문 ID로 찾기"
      onSubmit={(event) => {
        event.preventDefault();
        if (text.trim() !== '') window.location.hash = routeHref('orders', text.trim());
      }}
    >
      <Field id={`order${id}`} type="search" label="주문 ID" value={text} onInput={setText} />
      <button type="submit">주문 찾기</button>
    </form>
  );
}

function UserOrders(props: { reloads: number }) {
  const id = useId();
  const [userText, setUserText] = useState('');
  const [statusText, setStatusText] = useState('');
  const [filter, setFilter] = useState<{ userId: string; status: OrderStatus | undefined } | undefined>(undefined);
  const key = filter === undefined ? undefined : `${filter.userId}\u0001${filter.status ?? ''}\u0001${props.reloads}`;
  const list = usePaged(key, async (cursor) => {
    const query = { userId: filter!.userId, ...(filter!.status === undefined ? {} : { status: filter!.status }), ...(cursor === undefined ? {} : { cursor }) };
    const answer = await unwrap(api.GET('/api/admin/orders', { params: { query } }));
    return { items: answer.orders, nextCursor: answer.nextCursor };
  });
  const statusId = `status${id}`;
  return (
    <Section title="사용자별 주문">
      <form
        class="inline"
        role="search"
        aria-label="사용자 ID로 주문 찾기"
        onSubmit={(event) => {
          event.preventDefault();
          setFilter({ userId: userText.trim(), status: statuses.find((status) => status === statusText) });
        }}
      >
        <Field id={`user${id}`} type="search" label="사용자 ID" value={userText} onInput={setUserText} />
        <div class="field">
          <label for={statusId}>상태</label>
          <select id={statusId} value={statusText} onChange={(event) => setStatusText((event.currentTarget as HTMLSelectElement).value)}>
            <option value="">전체</option>
            {statuses.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </div>
        <button type="submit">주문 조회</button>
      </form>
      <ErrorLine error={list.error} />
      {list.items === undefined ? null : <OrderTable orders={list.items} caption={`${filter?.userId ?? ''}의 주문 (최신 순)`} />}
      {list.items === undefined ? null : (
        <Pager label="주문 목록 페이지" list={list} />
      )}
    </Section>
  );
}

export function OrderTable(props: { orders: Order[]; caption: string }) {
  if (props.orders.length === 0) return <p class="muted">주문이 없습니다.</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">주문 ID</th>
            <th scope="col">사용자</th>
            <th scope="col">상태</th>
            <th scope="col">사유</th>
            <th scope="col" class="num">결제 금액</th>
            <th scope="col">주문 시각</th>
          </tr>
        </thead>
        <tbody>
          {props.orders.map((order) => (
            <tr key={order.orderId}>
              <td>
                <a href={routeHref('orders', order.orderId)}>
                  <code>{order.orderId}</code>
                </a>
              </td>
              <td>{order.userId}</td>
              <td>
                <StatusBadge status={order.status} />
              </td>
              <td>
                <Reason reason={order.reason} />
              </td>
              <td class="num">{formatWon(order.paidAmount)}</td>
              <td>{formatTime(order.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function OrdersView(props: { param: string | undefined }) {
  const [changes, setChanges] = useState(0);
  return (
    <>
      <Section title="주문 찾기">
        <FindOrder />
      </Section>
      {props.param === undefined ? null : <OrderDetail orderId={props.param} onChanged={() => setChanges((count) => count + 1)} />}
      <UserOrders reloads={changes} />
    </>
  );
}
