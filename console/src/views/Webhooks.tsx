/**
 * Webhooks: the endpoints (URL, event types, enabled or stopped, by the
 * operator or by the circuit breaker), a new one with its secret shown once,
 * enable / disable, delete after a confirmation, and one endpoint's
 * deliveries, read again every second, each with a retry.
 */
import { useId, useState } from 'preact/hooks';
import type { paths } from '@commerce/client';
import { api, asApiError, unwrap } from '../api.js';
import { ConfirmDialog } from '../components/ConfirmDialog.js';
import { ErrorLine, Field, Pager, Section } from '../components/ui.js';
import { usePaged, useSubmission } from '../hooks.js';
import { placeError, type ApiErrorLike, type FormErrors } from '../lib/fields.js';
import { formatTime } from '../lib/format.js';

type WebhookInput = paths['/api/admin/webhooks']['post']['requestBody']['content']['application/json'];
type EventTypeChoice = WebhookInput['eventTypes'][number];
type Webhook = paths['/api/admin/webhooks']['get']['responses'][200]['content']['application/json']['webhooks'][number];
type Delivery = paths['/api/admin/webhooks/{id}/deliveries']['get']['responses'][200]['content']['application/json']['deliveries'][number];

/** Endpoints change rarely; the breaker may stop one at any time, so the list is read again now and then. */
const listPollMs = 2_000;
/** Deliveries of a watched endpoint: the relay sends within a fraction of a second. */
const deliveriesPollMs = 1_000;

const eventTypeChoices: ReadonlyArray<{ type: Exclude<EventTypeChoice, '*'>; text: string }> = [
  { type: 'order.paid', text: '주문 결제' },
  { type: 'order.failed', text: '주문 실패' },
  { type: 'order.canceled', text: '주문 취소' },
  { type: 'points.charged', text: '포인트 충전' },
  { type: 'coupon.issued', text: '쿠폰 발급' },
];

const deliveryStateText: Readonly<Record<string, string>> = { pending: '대기', delivered: '전달됨', failed: '실패' };
const disabledReasonText: Readonly<Record<string, string>> = { CONSECUTIVE_FAILURES: '연속 실패로 자동 중지' };

/** The service's URL and event-type rules are told without a field path; they belong next to their control all the same. */
function placeWebhookError(error: ApiErrorLike): FormErrors {
  if (error.code === 'WEBHOOK_URL_NOT_ALLOWED' || error.message.includes('웹훅 주소')) return { fields: { url: error } };
  if (error.message.includes('이벤트 유형')) return { fields: { eventTypes: error } };
  return placeError(error, ['url', 'eventTypes']);
}

function EnabledBadge(props: { webhook: Webhook }) {
  const { webhook } = props;
  if (webhook.enabled) return <span class="badge status-success">사용 중 (enabled)</span>;
  const reason = webhook.disabledReason === null ? undefined : (disabledReasonText[webhook.disabledReason] ?? webhook.disabledReason);
  return (
    <span class="badge status-failed">
      중지됨 (disabled){reason === undefined ? null : ` · ${reason}`}
    </span>
  );
}

function CreateWebhook(props: { onCreated: () => void }) {
  const id = useId();
  const urlId = `url${id}`;
  const typesErrorId = `types${id}-error`;
  const [url, setUrl] = useState('');
  const [types, setTypes] = useState<ReadonlySet<EventTypeChoice>>(new Set());
  const { errors, setErrors, busy, send } = useSubmission();
  const [created, setCreated] = useState<{ id: number; url: string; secret: string } | undefined>(undefined);

  const toggle = (type: EventTypeChoice, checked: boolean) => {
    const next = new Set(types);
    if (checked) next.add(type);
    else next.delete(type);
    setTypes(next);
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setCreated(undefined);
    // `*` stands alone: every type, now and later.
    const eventTypes: EventTypeChoice[] = types.has('*') ? ['*'] : eventTypeChoices.map((choice) => choice.type).filter((type) => types.has(type));
    if (eventTypes.length === 0) {
      return setErrors({ fields: { eventTypes: { code: 'NO_EVENT_TYPES', message: '받을 이벤트 유형을 하나 이상 골라 주세요.' } } });
    }
    await send(
      () => unwrap(api.POST('/api/admin/webhooks', { body: { url: url.trim(), eventTypes } })),
      ({ webhook }) => {
        setUrl('');
        setTypes(new Set());
        setCreated({ id: webhook.id, url: webhook.url, secret: webhook.secret });
        props.onCreated();
      },
      placeWebhookError,
    );
  };

  const all = types.has('*');
  const typesError = errors.fields.eventTypes;
  return (
    <Section title="웹훅 등록">
      <form onSubmit={submit} noValidate aria-label="웹훅 등록">
        <Field id={urlId} label="웹훅 주소 (URL)" value={url} onInput={setUrl} error={errors.fields.url} hint="http 또는 https, 이 주소로 이벤트를 POST합니다" />
        <fieldset class={typesError === undefined ? undefined : 'invalid'} aria-describedby={typesError === undefined ? undefined : typesErrorId}>
          <legend>이벤트 유형</legend>
          <label class="check">
            <input type="checkbox" checked={all} onChange={(event) => toggle('*', (event.currentTarget as HTMLInputElement).checked)} />
            전체 (*)
          </label>
          {eventTypeChoices.map((choice) => (
            <label class="check" key={choice.type}>
              <input
                type="checkbox"
                checked={all || types.has(choice.type)}
                disabled={all}
                onChange={(event) => toggle(choice.type, (event.currentTarget as HTMLInputElement).checked)}
              />
              {choice.type} <span class="muted">({choice.text})</span>
            </label>
          ))}
          <ErrorLine error={typesError} id={typesErrorId} />
        </fieldset>
        <ErrorLine error={errors.form} />
        <button type="submit" disabled={busy}>
          웹훅 등록
        </button>
      </form>
      {created === undefined ? null : (
        <div class="secret" role="region" aria-label="새 웹훅의 서명 비밀키">
          <p class="done">
            웹훅 #{created.id}을(를) 등록했습니다: <code>{created.url}</code>
          </p>
          <p>
            서명 비밀키: <code data-testid="webhook-secret">{created.secret}</code>
          </p>
          <p class="warn">이 비밀키는 지금 한 번만 표시됩니다. 다시 볼 수 없으니 수신 서버에 바로 저장해 주세요.</p>
          <button type="button" class="secondary" onClick={() => setCreated(undefined)}>
            비밀키를 저장했습니다
          </button>
        </div>
      )}
    </Section>
  );
}

function Deliveries(props: { webhook: Webhook; onClose: () => void }) {
  const { webhook } = props;
  const [retryError, setRetryError] = useState<ApiErrorLike | undefined>(undefined);
  const [retrying, setRetrying] = useState<number | undefined>(undefined);
  const list = usePaged(
    `deliveries-${webhook.id}`,
    async (cursor) => {
      const answer = await unwrap(
        api.GET('/api/admin/webhooks/{id}/deliveries', { params: { path: { id: String(webhook.id) }, query: cursor === undefined ? {} : { cursor } } }),
      );
      return { items: answer.deliveries, nextCursor: answer.nextCursor };
    },
    deliveriesPollMs,
  );
  const retry = async (delivery: Delivery) => {
    setRetrying(delivery.id);
    setRetryError(undefined);
    try {
      await unwrap(api.POST('/api/admin/webhooks/{id}/deliveries/{deliveryId}/retry', { params: { path: { id: String(webhook.id), deliveryId: String(delivery.id) } } }));
      list.reload();
    } catch (failure) {
      setRetryError(asApiError(failure));
    } finally {
      setRetrying(undefined);
    }
  };
  return (
    <Section
      title={`웹훅 #${webhook.id} 전송 내역`}
      actions={
        <>
          <span class="live">실시간 · 1초마다 갱신</span>
          <button type="button" class="secondary" onClick={props.onClose}>
            닫기
          </button>
        </>
      }
    >
      <p class="muted">
        <code>{webhook.url}</code>, 최신 순
      </p>
      <ErrorLine error={list.error ?? retryError} />
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">웹훅 #{webhook.id}의 전송 기록 (최신 순)</caption>
          <thead>
            <tr>
              <th scope="col">이벤트 ID</th>
              <th scope="col">유형</th>
              <th scope="col">상태</th>
              <th scope="col" class="num">
                시도
              </th>
              <th scope="col">마지막 응답</th>
              <th scope="col">다음 시도</th>
              <th scope="col">전달 시각</th>
              <th scope="col">재전송</th>
            </tr>
          </thead>
          <tbody>
            {(list.items ?? []).map((delivery) => (
              <tr key={delivery.id} data-delivery={delivery.id}>
                <td>
                  <code>{delivery.eventId}</code>
                </td>
                <td>{delivery.eventType}</td>
                <td>
                  <span class={`badge status-${delivery.state === 'delivered' ? 'success' : delivery.state}`} data-testid={`delivery-state-${delivery.eventId}`}>
                    {deliveryStateText[delivery.state] ?? delivery.state} ({delivery.state})
                  </span>
                </td>
                <td class="num">{delivery.attempts}</td>
                <td>{delivery.lastStatus === null ? (delivery.lastError ?? '—') : `HTTP ${delivery.lastStatus}`}</td>
                <td>{delivery.nextAttemptAt === null ? '—' : formatTime(delivery.nextAttemptAt)}</td>
                <td>{delivery.deliveredAt === null ? '—' : formatTime(delivery.deliveredAt)}</td>
                <td>
                  <button type="button" class="secondary" disabled={retrying === delivery.id} onClick={() => void retry(delivery)}>
                    <span aria-hidden="true">다시 보내기</span>
                    <span class="visually-hidden">전송 #{delivery.id} 다시 보내기</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager label="전송 내역 페이지" list={list} empty="전송 기록이 없습니다." />
    </Section>
  );
}

export function WebhooksView() {
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const [deleting, setDeleting] = useState<Webhook | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<ApiErrorLike | undefined>(undefined);
  const list = usePaged(
    'webhooks',
    async (cursor) => {
      const answer = await unwrap(api.GET('/api/admin/webhooks', { params: { query: cursor === undefined ? {} : { cursor } } }));
      return { items: answer.webhooks, nextCursor: answer.nextCursor };
    },
    listPollMs,
  );

  const setEnabled = async (webhook: Webhook, enabled: boolean) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await unwrap(api.PATCH('/api/admin/webhooks/{id}', { params: { path: { id: String(webhook.id) } }, body: { enabled } }));
      list.reload();
    } catch (failure) {
      setActionError(asApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  const remove = async () => {
    if (deleting === undefined) return;
    setBusy(true);
    setActionError(undefined);
    try {
      await unwrap(api.DELETE('/api/admin/webhooks/{id}', { params: { path: { id: String(deleting.id) } } }));
      if (selected === deleting.id) setSelected(undefined);
      list.reload();
    } catch (failure) {
      setActionError(asApiError(failure));
    } finally {
      setDeleting(undefined);
      setBusy(false);
    }
  };

  const watched = list.items?.find((webhook) => webhook.id === selected);
  return (
    <>
      <Section title="웹훅 목록" actions={<span class="live">2초마다 갱신</span>}>
        <ErrorLine error={list.error ?? actionError} />
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">웹훅 엔드포인트 (등록 순)</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">주소</th>
                <th scope="col">이벤트 유형</th>
                <th scope="col">상태</th>
                <th scope="col">등록</th>
                <th scope="col">관리</th>
              </tr>
            </thead>
            <tbody>
              {(list.items ?? []).map((webhook) => (
                <tr key={webhook.id} data-webhook={webhook.id}>
                  <td class="num">#{webhook.id}</td>
                  <td>
                    <code class="url">{webhook.url}</code>
                  </td>
                  <td>{webhook.eventTypes.map((type) => (type === '*' ? '전체 (*)' : type)).join(', ')}</td>
                  <td data-testid={`webhook-state-${webhook.id}`}>
                    <EnabledBadge webhook={webhook} />
                  </td>
                  <td>{formatTime(webhook.createdAt)}</td>
                  <td class="actions">
                    <button type="button" class="secondary" aria-pressed={selected === webhook.id} onClick={() => setSelected(selected === webhook.id ? undefined : webhook.id)}>
                      <span aria-hidden="true">전송 내역</span>
                      <span class="visually-hidden">웹훅 #{webhook.id} 전송 내역</span>
                    </button>
                    <button type="button" class="secondary" disabled={busy} onClick={() => void setEnabled(webhook, !webhook.enabled)}>
                      <span aria-hidden="true">{webhook.enabled ? '사용 중지' : '다시 사용'}</span>
                      <span class="visually-hidden">
                        웹훅 #{webhook.id} {webhook.enabled ? '사용 중지' : '다시 사용'}
                      </span>
                    </button>
                    <button type="button" class="danger" disabled={busy} onClick={() => setDeleting(webhook)}>
                      <span aria-hidden="true">삭제</span>
                      <span class="visually-hidden">웹훅 #{webhook.id} 삭제</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Pager label="웹훅 목록 페이지" list={list} empty="등록된 웹훅이 없습니다." />
        <ConfirmDialog
          open={deleting !== undefined}
          title="웹훅을 삭제할까요?"
          confirmLabel="삭제 확정"
          cancelLabel="돌아가기"
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => setDeleting(undefined)}
        >
          <p>
            웹훅 #{deleting?.id} (<code>{deleting?.url}</code>)과 그 전송 기록을 삭제합니다. 아직 보내지 못한 이벤트는 보내지 않습니다. 되돌릴 수 없습니다.
          </p>
        </ConfirmDialog>
      </Section>
      {watched === undefined ? null : <Deliveries webhook={watched} onClose={() => setSelected(undefined)} />}
      <CreateWebhook onCreated={list.reload} />
    </>
  );
}
