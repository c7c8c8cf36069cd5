/**
 * The admin console end to end, in a real browser: Debian's Chromium driven by
 * playwright-core, against the service listening on 127.0.0.1 and serving the
 * console built by scripts/test.mjs. Screenshots go to test-artifacts/console/
 * (ignored by git).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createSigner } from 'fast-jwt';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { consoleDir } from '../src/admin/console.js';
import { balanceOf, makeProduct, stockOf } from './fixtures.js';
import { bearer, httpCall, jwtSecret, setupApp, testDb, uniqueUser } from './helper.js';
import { startReceiver, waitFor } from './support/webhook-receiver.js';

const chromiumPath = '/usr/bin/chromium';
const chromiumFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Long enough for two busy cores; a wait that runs out fails its test. */
const waitMs = 20_000;
const artifacts = new URL('../test-artifacts/console/', import.meta.url);

// A database of its own on PostgreSQL: the webhook view must first show an endpoint with no deliveries,
// and the events of other files' orders, relayed into the shared database, would reach it first.
const { auth, db, url } = await setupApp({}, { ownDatabase: true });
const base = await url();
const adminToken = auth.sign(uniqueUser('admin'), { admin: true });

let browser: Browser;
before(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get update && apt-get install -y chromium`);
  await mkdir(artifacts, { recursive: true });
  browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumFlags, headless: true, timeout: 60_000 });
});
after(async () => {
  await browser?.close();
});

type Tab = { context: BrowserContext; page: Page; problems: string[] };

/** A fresh browser profile; every console error and page error is collected, so a test can insist on none. */
async function openTab(viewport = { width: 1280, height: 900 }): Promise<Tab> {
  const context = await browser.newContext({ viewport, locale: 'ko-KR', timezoneId: 'Asia/Seoul' });
  context.setDefaultTimeout(waitMs);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
  return { context, page, problems };
}

/** The console logs nothing when an answer is a 4xx it shows; the browser logs failed loads, which these tests expect. */
function unexpected(problems: string[]): string[] {
  return problems.filter((problem) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(problem));
}

async function closeTab(tab: Tab, name: string): Promise<void> {
  await tab.page.screenshot({ path: new URL(`${testDb}-${name}.png`, artifacts).pathname, fullPage: true });
  await tab.context.close();
  assert.deepEqual(unexpected(tab.problems), [], 'no script errors or refused resources');
}

async function signIn(page: Page, token = adminToken): Promise<void> {
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: '관리 메뉴' }).waitFor();
}

async function openView(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: '관리 메뉴' }).getByRole('link', { name, exact: true }).click();
  await page.waitForFunction((path) => window.location.hash === `#/${path}`, name.toLowerCase());
}

/** The message shown for a control: the element its aria-describedby names that is an error line. */
async function errorFor(control: Locator): Promise<string> {
  await control.and(control.page().locator('[aria-invalid="true"]')).waitFor();
  const ids = ((await control.getAttribute('aria-describedby')) ?? '').split(' ').filter((id) => id.endsWith('-error'));
  assert.equal(ids.length, 1, 'the control names its error');
  return (await control.page().locator(`[id="${ids[0]}"]`).textContent()) ?? '';
}

async function textOf(locator: Locator, expected: string | RegExp): Promise<string> {
  await locator.filter({ hasText: expected }).first().waitFor();
  return (await locator.first().textContent()) ?? '';
}

describe('admin console in Chromium', () => {
  it('is built and served at /admin with a content security policy', async () => {
    assert.ok(consoleDir.length > 0);
    const response = await fetch(`${base}/admin/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.match(await response.text(), /<div id="app">/);
    const bare = await fetch(`${base}/admin`, { redirect: 'manual' });
    assert.ok([301, 302].includes(bare.status), `GET /admin redirects, got ${bare.status}`);
  });

  it('signs in with the keyboard, keeps the token for this tab only and never in the address', async () => {
    const tab = await openTab();
    const { page } = tab;
    await page.goto(`${base}/admin/`);
    // The token field takes focus on arrival (once the page has rendered); typing and Enter sign in.
    await page.waitForFunction(() => document.activeElement?.id === 'admin-token');
    await page.keyboard.type(adminToken);
    await page.keyboard.press('Enter');
    const nav = page.getByRole('navigation', { name: '관리 메뉴' });
    for (const name of ['Products', 'Coupons', 'Orders', 'Wallets', 'Recovery', 'Webhooks']) await nav.getByRole('link', { name, exact: true }).waitFor();
    assert.ok(!page.url().includes(adminToken), 'the token is not in the address');
    assert.equal(await page.evaluate(() => window.sessionStorage.length), 1);
    assert.equal(await page.evaluate(() => window.localStorage.length), 0);
    assert.ok(!(await page.context().cookies()).some((cookie) => cookie.value.includes(adminToken)));

    // Tab to a view and open it with the keyboard.
    await nav.getByRole('link', { name: 'Orders', exact: true }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /주문 Orders/ }).waitFor();

    await page.reload();
    await nav.getByRole('link', { name: 'Orders', exact: true }).waitFor();
    const other = await tab.context.newPage();
    await other.goto(`${base}/admin/`);
    await other.getByLabel('Admin token').waitFor();
    await other.close();
    await closeTab(tab, 'signed-in');
  });

  it('tells a non-admin token and an expired one apart, and signs out when the token expires', async () => {
    const tab = await openTab();
    const { page } = tab;
    await page.goto(`${base}/admin/`);
    await page.getByLabel('Admin token').fill(auth.sign(uniqueUser(), {}));
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refused = await textOf(page.getByRole('alert'), '관리자 토큰이 아닙니다');
    assert.match(refused, /권한이 없습니다\./);

    const expired = createSigner({ key: jwtSecret, algorithm: 'HS256', expiresIn: 60_000, clockTimestamp: Date.now() - 3_600_000 })({
      sub: 'old-admin',
      role: 'admin',
    });
    await page.getByLabel('Admin token').fill(expired);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const stale = await textOf(page.getByRole('alert'), '만료');
    assert.match(stale, /인증이 필요합니다\./);
    assert.equal(await page.getByRole('navigation', { name: '관리 메뉴' }).count(), 0);
    await page.screenshot({ path: new URL(`${testDb}-refused.png`, artifacts).pathname });

    // Signed in, then the stored token goes stale: the next call sends the operator back to sign in.
    await signIn(page);
    await page.evaluate((token) => window.sessionStorage.setItem('commerce-admin-token', token), expired);
    await openView(page, 'Recovery');
    await textOf(page.getByRole('status'), '다시 로그인해 주세요');
    await page.getByLabel('Admin token').waitFor();
    assert.equal(await page.evaluate(() => window.sessionStorage.length), 0);
    await closeTab(tab, 'expired');
  });

  it('creates and edits a product, showing the service\'s validation errors next to the field', async () => {
    const tab = await openTab();
    const { page } = tab;
    await signIn(page);
    const form = page.getByRole('form', { name: '상품 등록' });
    const name = `E2E 사과 ${randomUUID().slice(0, 6)}`;
    await form.getByLabel('상품명').fill(name);
    await form.getByLabel('가격 (원)').fill('-1');
    await form.getByLabel('재고').fill('5');
    await form.getByRole('button', { name: '등록' }).click();
    const priceError = await errorFor(form.getByLabel('가격 (원)'));
    assert.match(priceError, /요청 형식이 올바르지 않습니다\./);
    assert.match(priceError, /price/);
    assert.equal((await db.query('SELECT 1 FROM products WHERE name = $1', [name])).length, 0);
    await page.screenshot({ path: new URL(`${testDb}-product-error.png`, artifacts).pathname });

    await form.getByLabel('가격 (원)').fill('1,500');
    await form.getByRole('button', { name: '등록' }).click();
    await textOf(form.getByRole('status'), '등록했습니다');
    const [created] = await db.query<{ id: number; price: number; stock: number }>('SELECT id, price, stock FROM products WHERE name = $1', [name]);
    assert.deepEqual({ price: created!.price, stock: created!.stock }, { price: 1_500, stock: 5 });

    const list = page.getByRole('region', { name: '상품 목록' });
    await list.getByRole('button', { name: `${name} 편집` }).click();
    const edit = page.getByRole('form', { name: `상품 #${created!.id} 편집` });
    await edit.getByLabel('가격 (원)').fill('2000000000');
    await edit.getByRole('button', { name: '저장' }).click();
    assert.match(await errorFor(edit.getByLabel('가격 (원)')), /요청 형식이 올바르지 않습니다\./);
    await edit.getByLabel('재고').fill('많이');
    await edit.getByRole('button', { name: '저장' }).click();
    assert.match(await errorFor(edit.getByLabel('재고')), /정수를 입력해 주세요/);

    await edit.getByLabel('상품명').fill(`${name} 특가`);
    await edit.getByLabel('가격 (원)').fill('2000');
    await edit.getByLabel('재고').fill('7');
    await edit.getByRole('button', { name: '저장' }).click();
    await list.getByRole('cell', { name: '2,000원' }).waitFor();
    await list.getByRole('cell', { name: `${name} 특가`, exact: true }).waitFor();
    const [edited] = await db.query<{ name: string; price: number; stock: number }>('SELECT name, price, stock FROM products WHERE id = $1', [created!.id]);
    assert.deepEqual(edited, { name: `${name} 특가`, price: 2_000, stock: 7 });
    await closeTab(tab, 'products');
  });

  it('creates a campaign with every field and shows issued reach the quota during a burst of 200 claims, without a reload', async () => {
    const tab = await openTab();
    const { page } = tab;
    await signIn(page);
    await openView(page, 'Coupons');
    const code = `E2E-${randomUUID().slice(0, 8)}`;
    const claimants = Array.from({ length: 200 }, () => uniqueUser('burst'));
    const form = page.getByRole('form', { name: '캠페인 만들기' });
    await form.getByLabel('쿠폰 코드').fill(code);
    await form.getByLabel('캠페인 이름').fill('E2E 선착순 100명');
    await form.getByLabel('할인 방식').selectOption('RATE');
    await form.getByLabel('할인 값').fill('150');
    await form.getByLabel('총 수량').fill('100');
    await form.getByRole('button', { name: '캠페인 만들기' }).click();
    // A rule across fields is the service's; its message shows on the form.
    await textOf(form.getByRole('alert'), '정률 할인은 1~100% 사이여야 합니다.');
    await form.getByLabel('할인 값').fill('10');
    await form.getByLabel('최소 주문 금액 (원)').fill('5,000');
    await form.getByLabel('최대 할인 금액 (원)').fill('3000');
    await form.getByLabel('유효 기간 (일)').fill('7');
    await form.getByLabel('발급 시작').fill('2020-01-01T00:00');
    await form.getByLabel('발급 종료').fill('2099-12-31T23:59');
    await form.getByLabel('발급 대상 사용자 ID').fill(claimants.join('\n'));
    await form.getByRole('button', { name: '캠페인 만들기' }).click();
    await textOf(form.getByRole('status'), code);
    const issued = page.getByTestId(`issued-${code}`);
    await textOf(issued, '0 / 100');

    const [campaign] = await db.query<Record<string, unknown>>(
      `SELECT discount_type, discount_value, min_order_amount, max_discount_amount, valid_days, issue_starts_at, issue_ends_at,
              cardinality(eligible_user_ids) AS eligible FROM coupon_campaigns WHERE code = $1`,
      [code],
    );
    assert.deepEqual(
      { ...campaign, issue_starts_at: new Date(campaign!.issue_starts_at as string).toISOString(), issue_ends_at: new Date(campaign!.issue_ends_at as string).toISOString() },
      {
        discount_type: 'RATE',
        discount_value: 10,
        min_order_amount: 5_000,
        max_discount_amount: 3_000,
        valid_days: 7,
        // Typed as Seoul wall time.
        issue_starts_at: '2019-12-31T15:00:00.000Z',
        issue_ends_at: '2099-12-31T14:59:00.000Z',
        eligible: 200,
      },
    );

    // The page must not reload: a mark left on the window would be lost.
    await page.evaluate(() => Object.assign(window, { consoleMark: 'still here' }));
    const answers = await Promise.all(
      claimants.map(async (userId) =>
        httpCall(base, { method: 'POST', url: '/api/coupons', headers: await bearer(auth, userId), body: { couponCode: code } }),
      ),
    );
    const statuses = answers.map((answer) => answer.status).sort();
    assert.equal(statuses.filter((status) => status === 200).length, 100);
    assert.equal(statuses.filter((status) => status === 410).length, 100);
    await textOf(issued, '100 / 100');
    assert.equal(await page.evaluate(() => (window as unknown as { consoleMark?: string }).consoleMark), 'still here');
    const [row] = await db.query<{ issued_quantity: number }>('SELECT issued_quantity FROM coupon_campaigns WHERE code = $1', [code]);
    assert.equal(row!.issued_quantity, 100);
    await closeTab(tab, 'coupons');
  });

  it('finds a paid order by id, cancels it after confirming, and shows canceled and the balance restored', async () => {
    const userId = uniqueUser('shopper');
    const headers = await bearer(auth, userId);
    const charge = await httpCall(base, { method: 'POST', url: '/api/points/charge', headers, body: { amount: 50_000 } });
    assert.equal(charge.status, 200);
    const productId = await makeProduct(db, 12_000, 3);
    const paid = await httpCall(base, {
      method: 'POST',
      url: '/api/orders',
      headers: { ...headers, 'idempotency-key': randomUUID() },
      body: { items: [{ productId, quantity: 2 }] },
    });
    assert.equal(paid.status, 200);
    const orderId = paid.body.orderId as string;

    const tab = await openTab();
    const { page } = tab;
    await signIn(page);
    await openView(page, 'Orders');
    await page.getByRole('searchbox', { name: '주문 ID' }).fill(orderId);
    await page.getByRole('button', { name: '주문 찾기' }).click();
    const detail = page.getByRole('region', { name: `주문 ${orderId}` });
    await textOf(detail.getByTestId('order-status'), 'success');
    await textOf(detail.getByTestId('user-balance'), '26,000원');
    await detail.getByRole('cell', { name: '24,000원' }).waitFor();

    // Escape closes the confirmation and changes nothing.
    await detail.getByRole('button', { name: '주문 취소' }).click();
    const dialog = page.getByRole('dialog', { name: '주문을 취소할까요?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await db.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [orderId]))[0]!.status, 'success');

    await detail.getByRole('button', { name: '주문 취소' }).click();
    await dialog.getByRole('button', { name: '취소 확정' }).click();
    await textOf(detail.getByTestId('order-status'), 'canceled');
    await textOf(detail.getByTestId('order-reason'), 'ADMIN_CANCELED');
    await textOf(detail.getByTestId('user-balance'), '50,000원');
    assert.equal(await detail.getByRole('button', { name: '주문 취소' }).count(), 0);
    assert.equal(await balanceOf(db, userId), 50_000);
    assert.equal(await stockOf(db, productId), 3);
    await page.screenshot({ path: new URL(`${testDb}-order-canceled.png`, artifacts).pathname, fullPage: true });

    // The wallet view shows the refund, newest first; the order links back.
    await detail.getByRole('link', { name: userId }).click();
    const wallet = page.getByRole('region', { name: `${userId}의 지갑` });
    await textOf(wallet.getByTestId('wallet-balance'), '50,000원');
    const types = await wallet.getByRole('row').allTextContents();
    assert.match(types[1] ?? '', /환불 \(REFUND\)/);
    assert.match(types[2] ?? '', /사용 \(USE\)/);
    assert.match(types[3] ?? '', /충전 \(CHARGE\)/);

    await openView(page, 'Recovery');
    await textOf(page.getByTestId('database-state'), 'ready');
    await closeTab(tab, 'orders');
  });

  it('registers a webhook, shows its secret once, watches a delivery arrive without a reload, then disables and deletes it', async () => {
    const receiver = await startReceiver();
    const tab = await openTab();
    const { page } = tab;
    await signIn(page);
    await openView(page, 'Webhooks');
    await page.getByRole('heading', { level: 1, name: /웹훅 Webhooks/ }).waitFor();
    const form = page.getByRole('form', { name: '웹훅 등록' });

    // No event type chosen: told next to the types, nothing registered.
    await form.getByLabel('웹훅 주소 (URL)').fill(receiver.url);
    await form.getByRole('button', { name: '웹훅 등록' }).click();
    await textOf(form.getByRole('alert'), '이벤트 유형을 하나 이상');
    // A URL the service refuses: its message under the URL field.
    await form.getByLabel('웹훅 주소 (URL)').fill('ftp://127.0.0.1/hook');
    await form.getByRole('checkbox', { name: /order\.paid/ }).check();
    await form.getByRole('button', { name: '웹훅 등록' }).click();
    assert.match(await errorFor(form.getByLabel('웹훅 주소 (URL)')), /http 또는 https URL이어야 합니다/);
    assert.equal((await db.query('SELECT 1 FROM webhooks WHERE url LIKE $1', ['ftp:%'])).length, 0);

    // Keyboard only: the URL, then the order.paid box stays checked, Enter submits.
    await form.getByLabel('웹훅 주소 (URL)').fill(receiver.url);
    await form.getByLabel('웹훅 주소 (URL)').press('Enter');
    const secretBox = page.getByRole('region', { name: '새 웹훅의 서명 비밀키' });
    await textOf(secretBox, '지금 한 번만 표시됩니다');
    const secret = ((await secretBox.getByTestId('webhook-secret').textContent()) ?? '').trim();
    const [row] = await db.query<{ id: number; event_types: string[]; enabled: boolean }>('SELECT id, event_types, enabled FROM webhooks WHERE url = $1', [receiver.url]);
    assert.ok(row !== undefined, 'the webhook is stored');
    assert.deepEqual({ types: row.event_types, enabled: row.enabled }, { types: ['order.paid'], enabled: true });
    assert.ok(secret.length >= 24, `a secret is shown: ${secret}`);
    const webhookId = Number(row.id);
    const list = page.getByRole('region', { name: '웹훅 목록' });
    await textOf(list.getByTestId(`webhook-state-${webhookId}`), '사용 중 (enabled)');
    await page.screenshot({ path: new URL(`${testDb}-webhook-created.png`, artifacts).pathname, fullPage: true });

    // The secret is not shown again: not after leaving the view, nor in the list.
    await openView(page, 'Orders');
    await openView(page, 'Webhooks');
    await list.getByTestId(`webhook-state-${webhookId}`).waitFor();
    assert.equal(await page.getByTestId('webhook-secret').count(), 0);
    assert.ok(!((await page.locator('main').textContent()) ?? '').includes(secret), 'the secret appears nowhere');

    await list.getByRole('button', { name: `웹훅 #${webhookId} 전송 내역` }).click();
    const deliveries = page.getByRole('region', { name: `웹훅 #${webhookId} 전송 내역` });
    await textOf(deliveries, '전송 기록이 없습니다');

    await page.evaluate(() => Object.assign(window, { consoleMark: 'still here' }));
    const userId = uniqueUser('hooked');
    const headers = await bearer(auth, userId);
    assert.equal((await httpCall(base, { method: 'POST', url: '/api/points/charge', headers, body: { amount: 10_000 } })).status, 200);
    const productId = await makeProduct(db, 3_000, 2);
    const paid = await httpCall(base, {
      method: 'POST',
      url: '/api/orders',
      headers: { ...headers, 'idempotency-key': randomUUID() },
      body: { items: [{ productId, quantity: 1 }] },
    });
    assert.equal(paid.status, 200);
    const orderId = paid.body.orderId as string;
    await waitFor(() => receiver.delivered.some((received) => received.event.subject === orderId), waitMs, 'the order.paid delivery');
    const event = receiver.delivered.find((received) => received.event.subject === orderId)!.event;
    assert.equal(event.type, 'order.paid');
    await textOf(deliveries.getByTestId(`delivery-state-${event.id}`), '(delivered)');
    const cells = await deliveries.locator('tr', { has: page.getByTestId(`delivery-state-${event.id}`) }).getByRole('cell').allTextContents();
    assert.equal(cells[0], event.id);
    assert.equal(cells[1], 'order.paid');
    assert.equal(cells[3], '1');
    assert.equal(cells[4], 'HTTP 204');
    assert.equal(cells[5], '—');
    assert.notEqual(cells[6], '—');
    assert.equal(await page.evaluate(() => (window as unknown as { consoleMark?: string }).consoleMark), 'still here');
    await page.screenshot({ path: new URL(`${testDb}-webhook-delivered.png`, artifacts).pathname, fullPage: true });

    // A manual retry sends it again.
    const before = receiver.delivered.length;
    await deliveries.getByRole('button', { name: /다시 보내기/ }).first().focus();
    await page.keyboard.press('Enter');
    await waitFor(() => receiver.delivered.length > before, waitMs, 'the retried delivery');

    await list.getByRole('button', { name: `웹훅 #${webhookId} 사용 중지` }).click();
    await textOf(list.getByTestId(`webhook-state-${webhookId}`), '중지됨 (disabled)');
    await list.getByRole('button', { name: `웹훅 #${webhookId} 다시 사용` }).waitFor();
    assert.equal((await db.query<{ enabled: boolean }>('SELECT enabled FROM webhooks WHERE id = $1', [webhookId]))[0]!.enabled, false);

    // Stopped by the circuit breaker shows as disabled too, with why.
    await db.query(`UPDATE webhooks SET disabled_reason = 'CONSECUTIVE_FAILURES' WHERE id = $1`, [webhookId]);
    await textOf(list.getByTestId(`webhook-state-${webhookId}`), '연속 실패로 자동 중지');

    // Delete: Escape keeps it, the confirmation removes it.
    await list.getByRole('button', { name: `웹훅 #${webhookId} 삭제` }).click();
    const dialog = page.getByRole('dialog', { name: '웹훅을 삭제할까요?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await db.query('SELECT 1 FROM webhooks WHERE id = $1', [webhookId])).length, 1);
    await list.getByRole('button', { name: `웹훅 #${webhookId} 삭제` }).click();
    await dialog.getByRole('button', { name: '삭제 확정' }).click();
    await list.getByTestId(`webhook-state-${webhookId}`).waitFor({ state: 'detached' });
    assert.equal((await db.query('SELECT 1 FROM webhooks WHERE id = $1', [webhookId])).length, 0);
    await closeTab(tab, 'webhooks');
  });

  it('is readable at a phone\'s 390 px width: no view scrolls sideways', async () => {
    const tab = await openTab({ width: 390, height: 844 });
    const { page } = tab;
    await signIn(page);
    for (const name of ['Products', 'Coupons', 'Orders', 'Wallets', 'Recovery', 'Webhooks']) {
      await openView(page, name);
      await page.getByRole('heading', { level: 1, name: new RegExp(name) }).waitFor();
      await page.screenshot({ path: new URL(`${testDb}-phone-${name.toLowerCase()}.png`, artifacts).pathname, fullPage: true });
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      const widest = await page.evaluate(() => {
        const wide = [...document.querySelectorAll('body *')].filter(
          (element) => element.getBoundingClientRect().right > window.innerWidth + 1 && element.closest('.table-wrap') === null,
        );
        return wide.slice(0, 3).map((element) => `${element.tagName}.${element.className}: ${(element.textContent ?? '').slice(0, 60)}`);
      });
      assert.ok(width <= 390, `${name} is ${width} px wide (${widest.join(', ')})`);
    }
    await closeTab(tab, 'phone');
  });
});
