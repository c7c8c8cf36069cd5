/** Coupons: campaigns with issued / total, read again every second, and a new campaign with every field the service takes. */
import { useId, useState } from 'preact/hooks';
import type { paths } from '@commerce/client';
import { api, unwrap } from '../api.js';
import { ErrorLine, Field, Pager, Section } from '../components/ui.js';
import { usePaged, useSubmission } from '../hooks.js';
import { localDateTimeToIso, placeError, readIntegers, userIdList, type FormErrors } from '../lib/fields.js';
import { describeDiscount, formatCount, formatTime, formatWon, issuedPercent } from '../lib/format.js';

type CampaignInput = paths['/api/admin/coupons']['post']['requestBody']['content']['application/json'];
type Campaign = paths['/api/admin/coupons']['get']['responses'][200]['content']['application/json']['coupons'][number];

/** The console's live view: often enough to watch a burst, cheap enough (one indexed read) to leave open. */
const livePollMs = 1_000;

const campaignFields = [
  'code',
  'name',
  'discountType',
  'discountValue',
  'totalQuantity',
  'minOrderAmount',
  'maxDiscountAmount',
  'validDays',
  'issueStartsAt',
  'issueEndsAt',
  'eligibleUserIds',
] as const;

type CampaignText = Record<(typeof campaignFields)[number], string>;

const emptyCampaign: CampaignText = {
  code: '',
  name: '',
  discountType: 'FIXED',
  discountValue: '',
  totalQuantity: '',
  minOrderAmount: '',
  maxDiscountAmount: '',
  validDays: '',
  issueStartsAt: '',
  issueEndsAt: '',
  eligibleUserIds: '',
};

function readCampaign(text: CampaignText): { body: CampaignInput } | { errors: FormErrors } {
  const { values, errors } = readIntegers(
    {
      discountValue: text.discountValue,
      totalQuantity: text.totalQuantity,
      minOrderAmount: text.minOrderAmount,
      maxDiscountAmount: text.maxDiscountAmount,
      validDays: text.validDays,
    },
    ['minOrderAmount', 'maxDiscountAmount', 'validDays'],
  );
  if (values.discountValue === undefined || values.totalQuantity === undefined) return { errors: { fields: errors } };
  if (Object.keys(errors).length > 0) return { errors: { fields: errors } };
  const body: CampaignInput = {
    code: text.code.trim(),
    name: text.name.trim(),
    discountType: text.discountType === 'RATE' ? 'RATE' : 'FIXED',
    discountValue: values.discountValue,
    totalQuantity: values.totalQuantity,
  };
  // Optional fields are sent only when given, so the service's defaults apply otherwise.
  if (values.minOrderAmount !== undefined) body.minOrderAmount = values.minOrderAmount;
  if (values.maxDiscountAmount !== undefined) body.maxDiscountAmount = values.maxDiscountAmount;
  if (values.validDays !== undefined) body.validDays = values.validDays;
  const startsAt = localDateTimeToIso(text.issueStartsAt);
  const endsAt = localDateTimeToIso(text.issueEndsAt);
  if (startsAt !== undefined) body.issueStartsAt = startsAt;
  if (endsAt !== undefined) body.issueEndsAt = endsAt;
  const eligible = userIdList(text.eligibleUserIds);
  if (eligible !== undefined) body.eligibleUserIds = eligible;
  return { body };
}

type FieldsProps = {
  text: CampaignText;
  errors: FormErrors;
  set: (field: keyof CampaignText) => (value: string) => void;
  fieldOf: (field: keyof CampaignText) => string;
};

/** The terms a campaign may leave to the service's defaults. */
function OptionalFields(props: FieldsProps) {
  const { text, errors, set, fieldOf } = props;
  const eligibleId = fieldOf('eligibleUserIds');
  return (
    <fieldset>
      <legend>선택 항목</legend>
      <div class="field-row">
        <Field id={fieldOf('minOrderAmount')} label="최소 주문 금액 (원)" inputMode="numeric" value={text.minOrderAmount} onInput={set('minOrderAmount')} error={errors.fields.minOrderAmount} hint="비우면 0" />
        <Field
          id={fieldOf('maxDiscountAmount')}
          label="최대 할인 금액 (원)"
          inputMode="numeric"
          value={text.maxDiscountAmount}
          onInput={set('maxDiscountAmount')}
          error={errors.fields.maxDiscountAmount}
          hint="정률 할인에만"
        />
        <Field id={fieldOf('validDays')} label="유효 기간 (일)" inputMode="numeric" value={text.validDays} onInput={set('validDays')} error={errors.fields.validDays} hint="발급 후, 비우면 30일" />
      </div>
      <div class="field-row">
        <Field id={fieldOf('issueStartsAt')} type="datetime-local" label="발급 시작" value={text.issueStartsAt} onInput={set('issueStartsAt')} error={errors.fields.issueStartsAt} hint="이 시각부터 (포함)" />
        <Field id={fieldOf('issueEndsAt')} type="datetime-local" label="발급 종료" value={text.issueEndsAt} onInput={set('issueEndsAt')} error={errors.fields.issueEndsAt} hint="이 시각 전까지 (제외)" />
      </div>
      <div class={`field${errors.fields.eligibleUserIds === undefined ? '' : ' invalid'}`}>
        <label for={eligibleId}>발급 대상 사용자 ID</label>
        <textarea
          id={eligibleId}
          rows={2}
          value={text.eligibleUserIds}
          aria-describedby={`${eligibleId}-hint`}
          onInput={(event) => set('eligibleUserIds')((event.currentTarget as HTMLTextAreaElement).value)}
        />
        <small id={`${eligibleId}-hint`} class="hint">
          한 줄에 하나 또는 쉼표로 구분, 비우면 모든 사용자
        </small>
        <ErrorLine error={errors.fields.eligibleUserIds} />
      </div>
    </fieldset>
  );
}

function CreateCampaign(props: { onCreated: () => void }) {
  const id = useId();
  const [text, setText] = useState(emptyCampaign);
  const { errors, setErrors, busy, send } = useSubmission();
  const [done, setDone] = useState<string | undefined>(undefined);
  const set = (field: keyof CampaignText) => (value: string) => setText({ ...text, [field]: value });
  const fieldOf = (field: keyof CampaignText) => `${field}${id}`;

  const submit = async (event: Event) => {
    event.preventDefault();
    setDone(undefined);
    const read = readCampaign(text);
    if ('errors' in read) return setErrors(read.errors);
    await send(
      () => unwrap(api.POST('/api/admin/coupons', { body: read.body })),
      ({ coupon }) => {
        setText(emptyCampaign);
        setDone(`캠페인 ${coupon.code}을(를) 만들었습니다.`);
        props.onCreated();
      },
      (error) => placeError(error, campaignFields),
    );
  };

  const typeId = fieldOf('discountType');
  return (
    <Section title="캠페인 만들기">
      <form onSubmit={submit} noValidate aria-label="캠페인 만들기">
        <div class="field-row">
          <Field id={fieldOf('code')} label="쿠폰 코드" value={text.code} onInput={set('code')} error={errors.fields.code} hint="1–64자, 사용자가 입력하는 코드" />
          <Field id={fieldOf('name')} label="캠페인 이름" value={text.name} onInput={set('name')} error={errors.fields.name} />
        </div>
        <div class="field-row">
          <div class="field">
            <label for={typeId}>할인 방식</label>
            <select id={typeId} value={text.discountType} onChange={(event) => set('discountType')((event.currentTarget as HTMLSelectElement).value)}>
              <option value="FIXED">정액 (FIXED, 원)</option>
              <option value="RATE">정률 (RATE, %)</option>
            </select>
          </div>
          <Field
            id={fieldOf('discountValue')}
            label="할인 값"
            inputMode="numeric"
            value={text.discountValue}
            onInput={set('discountValue')}
            error={errors.fields.discountValue}
            hint={text.discountType === 'RATE' ? '1–100 (%)' : '원'}
          />
          <Field id={fieldOf('totalQuantity')} label="총 수량" inputMode="numeric" value={text.totalQuantity} onInput={set('totalQuantity')} error={errors.fields.totalQuantity} />
        </div>
        <OptionalFields text={text} errors={errors} set={set} fieldOf={fieldOf} />
        <ErrorLine error={errors.form} />
        <button type="submit" disabled={busy}>
          캠페인 만들기
        </button>
        <p role="status" class="done">
          {done}
        </p>
      </form>
    </Section>
  );
}

function CampaignRow(props: { campaign: Campaign }) {
  const { campaign } = props;
  const percent = issuedPercent(campaign.issuedQuantity, campaign.totalQuantity);
  return (
    <tr data-code={campaign.code}>
      <td>
        <code>{campaign.code}</code>
      </td>
      <td>{campaign.name}</td>
      <td>{describeDiscount(campaign)}</td>
      <td class="num">
        <span class="issued" data-testid={`issued-${campaign.code}`}>
          {formatCount(campaign.issuedQuantity)} / {formatCount(campaign.totalQuantity)}
        </span>
        <progress max={100} value={percent} aria-label={`${campaign.code} 발급률 ${percent}%`} />
      </td>
      <td>{campaign.minOrderAmount > 0 ? formatWon(campaign.minOrderAmount) : '—'}</td>
      <td>
        {formatTime(campaign.issueStartsAt)} ~ {formatTime(campaign.issueEndsAt)}
      </td>
      <td class="num">{campaign.validDays}일</td>
      <td>{campaign.eligibleUserIds === null ? '전체' : `${formatCount(campaign.eligibleUserIds.length)}명`}</td>
    </tr>
  );
}

export function CouponsView() {
  const list = usePaged(
    'campaigns',
    async (cursor) => {
      const answer = await unwrap(api.GET('/api/admin/coupons', { params: { query: cursor === undefined ? {} : { cursor } } }));
      return { items: answer.coupons, nextCursor: answer.nextCursor };
    },
    livePollMs,
  );
  return (
    <>
      <Section title="캠페인" actions={<span class="live">실시간 · 1초마다 갱신</span>}>
        <ErrorLine error={list.error} />
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">쿠폰 캠페인 (최신 순)</caption>
            <thead>
              <tr>
                <th scope="col">코드</th>
                <th scope="col">이름</th>
                <th scope="col">할인</th>
                <th scope="col" class="num">
                  발급 / 총 수량
                </th>
                <th scope="col">최소 주문</th>
                <th scope="col">발급 기간</th>
                <th scope="col" class="num">
                  유효 기간
                </th>
                <th scope="col">대상</th>
              </tr>
            </thead>
            <tbody>
              {(list.items ?? []).map((campaign) => (
                <CampaignRow key={campaign.id} campaign={campaign} />
              ))}
            </tbody>
          </table>
        </div>
        <Pager label="캠페인 목록 페이지" list={list} empty="캠페인이 없습니다." />
      </Section>
      <CreateCampaign onCreated={list.reload} />
    </>
  );
}
