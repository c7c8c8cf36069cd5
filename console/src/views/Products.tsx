/** Products: the paged list, a new product, edits of name, price and stock, and the current top 5. */
import { useEffect, useId, useState } from 'preact/hooks';
import type { paths } from '@commerce/client';
import { api, asApiError, unwrap } from '../api.js';
import { ErrorLine, Field, Pager, Section } from '../components/ui.js';
import { usePaged, usePolled, useSubmission } from '../hooks.js';
import { changedFields, placeError, readIntegers, type ApiErrorLike, type FormErrors } from '../lib/fields.js';
import { formatCount, formatWon } from '../lib/format.js';

type Product = paths['/api/products']['get']['responses'][200]['content']['application/json']['products'][number];
const productFields = ['name', 'price', 'stock'] as const;
type ProductText = Record<(typeof productFields)[number], string>;
const placeProductError = (error: ApiErrorLike) => placeError(error, productFields);

const emptyProduct: ProductText = { name: '', price: '', stock: '' };

type ProductInput = { name: string; price: number; stock: number };

/** The body to send, or the fields that are not numbers (nothing is sent then). */
function readProduct(text: ProductText): { body: ProductInput } | { errors: FormErrors } {
  const { values, errors } = readIntegers({ price: text.price, stock: text.stock });
  if (values.price === undefined || values.stock === undefined) return { errors: { fields: errors } };
  return { body: { name: text.name, price: values.price, stock: values.stock } };
}

function ProductFields(props: { prefix: string; text: ProductText; errors: FormErrors; onChange: (text: ProductText) => void }) {
  const { text, errors } = props;
  const set = (field: keyof ProductText) => (value: string) => props.onChange({ ...text, [field]: value });
  return (
    <div class="field-row">
      <Field id={`${props.prefix}-name`} label="상품명" value={text.name} onInput={set('name')} error={errors.fields.name} />
      <Field id={`${props.prefix}-price`} label="가격 (원)" inputMode="numeric" value={text.price} onInput={set('price')} error={errors.fields.price} />
      <Field id={`${props.prefix}-stock`} label="재고" inputMode="numeric" value={text.stock} onInput={set('stock')} error={errors.fields.stock} />
    </div>
  );
}

function CreateProduct(props: { onCreated: (product: Product) => void }) {
  const prefix = useId();
  const [text, setText] = useState(emptyProduct);
  const { errors, setErrors, busy, send } = useSubmission();
  const [done, setDone] = useState<string | undefined>(undefined);

  const submit = async (event: Event) => {
    event.preventDefault();
    setDone(undefined);
    const read = readProduct(text);
    if ('errors' in read) return setErrors(read.errors);
    await send(
      () => unwrap(api.POST('/api/admin/products', { body: read.body })),
      ({ product }) => {
        setText(emptyProduct);
        setDone(`상품 #${product.id} "${product.name}"을(를) 등록했습니다.`);
        props.onCreated(product);
      },
      placeProductError,
    );
  };

  return (
    <Section title="상품 등록">
      <form onSubmit={submit} noValidate aria-label="상품 등록">
        <ProductFields prefix={`new${prefix}`} text={text} errors={errors} onChange={setText} />
        <ErrorLine error={errors.form} />
        <button type="submit" disabled={busy}>
          등록
        </button>
        <p role="status" class="done">
          {done}
        </p>
      </form>
    </Section>
  );
}

function EditProduct(props: { product: Product; onSaved: (product: Product) => void; onClose: () => void }) {
  const { product } = props;
  const initial: ProductText = { name: product.name, price: String(product.price), stock: String(product.stock) };
  const [text, setText] = useState(initial);
  const { errors, setErrors, busy, send } = useSubmission();

  const submit = async (event: Event) => {
    event.preventDefault();
    const read = readProduct(text);
    if ('errors' in read) return setErrors(read.errors);
    const patch = changedFields<ProductInput>(product, read.body);
    if (Object.keys(patch).length === 0) return props.onClose();
    await send(
      () => unwrap(api.PATCH('/api/admin/products/{id}', { params: { path: { id: String(product.id) } }, body: patch })),
      (answer) => props.onSaved(answer.product),
      placeProductError,
    );
  };

  return (
    <form class="edit" onSubmit={submit} noValidate aria-label={`상품 #${product.id} 편집`}>
      <ProductFields prefix={`edit-${product.id}`} text={text} errors={errors} onChange={setText} />
      <ErrorLine error={errors.form} />
      <div class="buttons">
        <button type="submit" disabled={busy}>
          저장
        </button>
        <button type="button" class="secondary" onClick={props.onClose}>
          닫기
        </button>
      </div>
    </form>
  );
}

function Popular() {
  const popular = usePolled(() => unwrap(api.GET('/api/products/popular')), 5_000);
  return (
    <Section title="인기 상품 (최근 72시간)">
      <ErrorLine error={popular.error} />
      {popular.value === undefined ? null : popular.value.products.length === 0 ? (
        <p class="muted">최근 72시간 동안 판매된 상품이 없습니다.</p>
      ) : (
        <ol class="popular" aria-label="인기 상품 순위">
          {popular.value.products.map((product) => (
            <li key={product.id}>
              <strong>{product.name}</strong> <span class="muted">#{product.id}</span> · {formatCount(product.soldQuantity)}개 판매 · 재고{' '}
              {formatCount(product.stock)}
            </li>
          ))}
        </ol>
      )}
    </Section>
  );
}

function FindProduct(props: { onFound: (product: Product) => void }) {
  const id = useId();
  const [text, setText] = useState('');
  const [error, setError] = useState<ApiErrorLike | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    try {
      const { product } = await unwrap(api.GET('/api/products/{id}', { params: { path: { id: text.trim() } } }));
      setError(undefined);
      props.onFound(product);
    } catch (failure) {
      setError(asApiError(failure));
    }
  };
  return (
    <form class="inline" role="search" aria-label="상품 찾기" onSubmit={submit}>
      <Field id={`find${id}`} type="search" label="상품 ID" inputMode="numeric" value={text} onInput={setText} error={error} />
      <button type="submit">찾기</button>
    </form>
  );
}

export function ProductsView() {
  const list = usePaged('products', async (cursor) => {
    const answer = await unwrap(api.GET('/api/products', { params: { query: cursor === undefined ? {} : { cursor } } }));
    return { items: answer.products, nextCursor: answer.nextCursor };
  });
  const [editing, setEditing] = useState<number | undefined>(undefined);
  // One product picked out of the list: found by id, or just created (it may sit on a later page).
  const [picked, setPicked] = useState<Product | undefined>(undefined);
  const [saved, setSaved] = useState<Record<number, Product>>({});
  const remember = (product: Product) => setSaved((known) => ({ ...known, [product.id]: product }));
  // A page read after our own writes already shows them.
  useEffect(() => setSaved({}), [list.items]);
  const rows = picked === undefined ? (list.items ?? []) : [picked];

  return (
    <>
      <CreateProduct
        onCreated={(product) => {
          setPicked(product);
          list.reload();
        }}
      />
      <Section title="상품 목록">
        <FindProduct onFound={setPicked} />
        <ErrorLine error={list.error} />
        {picked === undefined ? null : (
          <p>
            상품 #{picked.id}만 보고 있습니다.{' '}
            <button type="button" class="link" onClick={() => setPicked(undefined)}>
              전체 목록 보기
            </button>
          </p>
        )}
        <div class="table-wrap">
          <table>
            <caption class="visually-hidden">상품 목록 (ID 순)</caption>
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">상품명</th>
                <th scope="col" class="num">가격</th>
                <th scope="col" class="num">재고</th>
                <th scope="col">
                  <span class="visually-hidden">편집</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((listed) => {
                const product = saved[listed.id] ?? listed;
                return editing === product.id ? (
                  <tr key={product.id}>
                    <td colSpan={5}>
                      <EditProduct
                        product={product}
                        onSaved={(next) => {
                          remember(next);
                          if (picked?.id === next.id) setPicked(next);
                          setEditing(undefined);
                          list.reload();
                        }}
                        onClose={() => setEditing(undefined)}
                      />
                    </td>
                  </tr>
                ) : (
                  <tr key={product.id}>
                    <td>{product.id}</td>
                    <td>{product.name}</td>
                    <td class="num">{formatWon(product.price)}</td>
                    <td class="num">{formatCount(product.stock)}</td>
                    <td>
                      <button type="button" class="secondary" onClick={() => setEditing(product.id)} aria-label={`${product.name} 편집`}>
                        편집
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        {rows.length === 0 && list.items !== undefined ? <p class="muted">상품이 없습니다.</p> : null}
        {picked === undefined ? (
          <Pager label="상품 목록 페이지" list={list} />
        ) : null}
      </Section>
      <Popular />
    </>
  );
}
