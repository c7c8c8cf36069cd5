/** Small building blocks every view uses: labelled fields, error lines, pagers, status badges. */
import type { ComponentChildren } from 'preact';
import type { Paged } from '../hooks.js';
import type { ApiErrorLike } from '../lib/fields.js';
import { orderStatusText } from '../lib/format.js';

export function ErrorLine(props: { error: ApiErrorLike | undefined; id?: string }) {
  if (props.error === undefined) return null;
  return (
    <p class="error" id={props.id} role="alert">
      {props.error.message}
      {props.error.details === undefined ? null : <span class="details"> ({props.error.details})</span>}
    </p>
  );
}

type FieldProps = {
  id: string;
  label: string;
  value: string;
  onInput: (value: string) => void;
  error?: ApiErrorLike | undefined;
  hint?: string;
  type?: 'text' | 'search' | 'password' | 'datetime-local';
  inputMode?: 'numeric' | 'text';
  required?: boolean;
  autoComplete?: string;
};

/** A text control with its label, an optional hint, and the service's error for it right below. */
export function Field(props: FieldProps) {
  const errorId = `${props.id}-error`;
  const hintId = `${props.id}-hint`;
  const describedBy = [props.hint === undefined ? undefined : hintId, props.error === undefined ? undefined : errorId].filter(Boolean).join(' ');
  return (
    <div class={`field${props.error === undefined ? '' : ' invalid'}`}>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        name={props.id}
        // Preact types attributes per input type; this control takes several text-like ones.
        {...({ type: props.type ?? 'text' } as { type: 'text' })}
        inputMode={props.inputMode}
        value={props.value}
        required={props.required}
        autoComplete={props.autoComplete ?? 'off'}
        aria-invalid={props.error === undefined ? undefined : 'true'}
        aria-describedby={describedBy === '' ? undefined : describedBy}
        onInput={(event) => props.onInput((event.currentTarget as HTMLInputElement).value)}
      />
      {props.hint === undefined ? null : (
        <small id={hintId} class="hint">
          {props.hint}
        </small>
      )}
      <ErrorLine error={props.error} id={errorId} />
    </div>
  );
}

/**
 * Forward-only keyset pages: the cursors seen so far make "previous" possible without offsets.
 * With `empty`, a loaded page with no items says so above the buttons.
 */
export function Pager(props: { list: Paged<unknown>; label: string; empty?: string }) {
  const { list } = props;
  return (
    <>
      {props.empty !== undefined && list.items?.length === 0 ? <p class="muted">{props.empty}</p> : null}
      <nav class="pager" aria-label={props.label}>
      <button type="button" onClick={list.first} disabled={list.page === 0}>
        처음
      </button>
      <button type="button" onClick={list.previous} disabled={list.page === 0}>
        이전
      </button>
      <span aria-live="polite">{list.page + 1} 페이지</span>
      <button type="button" onClick={list.next} disabled={!list.hasNext}>
        다음
      </button>
      </nav>
    </>
  );
}

export function StatusBadge(props: { status: string }) {
  return <span class={`badge status-${props.status}`}>{orderStatusText[props.status] ?? props.status} ({props.status})</span>;
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="panel" aria-label={props.title}>
      <div class="panel-head">
        <h2>{props.title}</h2>
        {props.actions}
      </div>
      {props.children}
    </section>
  );
}
