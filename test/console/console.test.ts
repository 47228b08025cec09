/**
 * The operator console in a real browser: Debian's chromium driven by playwright-core against
 * the service on 127.0.0.1, real receivers, a real database. Each main screen is screenshotted
 * under test-output/console/ and checked with axe-core (no serious or critical violations).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { hashApplicationToken } from '../../src/core/caller';
import { createTicket } from '../../src/core/tickets';
import { CONSOLE_ASSETS } from '../../src/console/consoleRoutes';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = path.resolve(__dirname, '..', '..', 'test-output', 'console');
const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
/** The console polls every 5 s; a change must show within a few polls. */
const SHOWS_WITHIN = 30_000;

let t: TestService;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
let refusing: Receiver;
let flaky: Receiver;
let failing = true;
const pageProblems: string[] = [];

jest.setTimeout(180_000);

beforeAll(async () => {
  if (!fs.existsSync(path.join(CONSOLE_ASSETS, 'app.js'))) throw new Error(`The console is not built (${CONSOLE_ASSETS}); run npm run build first (npm test does).`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does).`);
  fs.mkdirSync(OUTPUT, { recursive: true });
  t = await startTestService({ DELIVERY_RETRY_SCHEDULE_MS: '100,100', POLL_INTERVAL_MS: '100' });
  refusing = await startReceiver((_req, res) => res.writeHead(403, { 'content-type': 'text/plain' }).end('no thanks: unknown sender'));
  flaky = await startReceiver((req, res) =>
    req.headers['x-hook-test'] === 'true' || !failing ? res.writeHead(200).end('received') : res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver exploded'),
  );
  userDataDir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'console-chromium-'));
  // A fresh profile folder per run (launchPersistentContext is how Playwright takes --user-data-dir).
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(SHOWS_WITHIN);
  page.on('console', (message) => {
    if (message.type() === 'error') pageProblems.push(message.text());
  });
  page.on('pageerror', (error) => pageProblems.push(error.message));
});

afterAll(async () => {
  await context?.close();
  await Promise.all([refusing?.close(), flaky?.close()]);
  await t?.stop();
  if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
});

afterEach(() => {
  // A refused script or style (CSP), a failed asset or an exception in the page fails the step it happened in.
  const problems = pageProblems.splice(0).filter((text) => !/the server responded with a status of 4\d\d/.test(text));
  expect(problems).toEqual([]);
});

async function screenshot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(OUTPUT, `${name}.png`), fullPage: true });
}

/** axe-core on the current screen: no serious or critical violations. */
async function expectAccessible(screen: string): Promise<void> {
  // Evaluated through the DevTools protocol, not as a page script, so the page's CSP stays as it is.
  if (!(await page.evaluate('typeof window.axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
  const violations = (await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 3) })))`)) as Array<{ id: string; impact: string; nodes: string[] }>;
  expect([screen, violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')]).toEqual([screen, []]);
}

const api = (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.service.url}/api/v1${route}`, {
    method,
    headers: { authorization: `Bearer ${t.ticket}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function signIn(ticket: string): Promise<void> {
  await page.goto(`${t.service.url}/`);
  const field = page.getByLabel('Ticket');
  expect(await field.evaluate((element) => element === (globalThis as any).document.activeElement)).toBe(true); // the keyboard starts there
  await field.fill(ticket);
  await field.press('Enter');
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
}

async function signOut(): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
}

async function visible(locator: ReturnType<Page['locator']>, timeout = SHOWS_WITHIN): Promise<void> {
  await locator.first().waitFor({ state: 'visible', timeout });
}

/** Waits until `probe` answers as `check` wants; the last answer is in the failure. */
async function eventually<T>(probe: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  let last: T | undefined;
  for (const deadline = Date.now() + SHOWS_WITHIN; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
    last = await probe();
    if (check(last)) return last;
  }
  throw new Error(`Timed out waiting for ${what}; last seen: ${JSON.stringify(last)?.slice(0, 500)}`);
}

const SCRIPT_NAME = '<script>window.__injected = 1</script> Orders hook';
let orderHookId = 0;

describe('the operator console', () => {
  it('serves the page with a strict CSP, no framing, no referrer, and links to it from 404 answers', async () => {
    const response = await fetch(`${t.service.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toMatch(/script-src 'self';/);
    expect(response.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|unsafe-eval/);
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await response.text()).not.toMatch(/<script>|<script [^>]*>[^<]/); // only external scripts
    const script = await fetch(`${t.service.url}/console/app.js`);
    expect([script.status, script.headers.get('content-type')]).toEqual([200, expect.stringMatching(/javascript/)]);
    expect(await (await fetch(`${t.service.url}/nothing-here`)).text()).toMatch(/operator console is at \//);
  });

  it('refuses a wrong ticket with a message, then signs in with the keyboard (ticket in sessionStorage, no cookies)', async () => {
    await page.goto(`${t.service.url}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await screenshot('01-sign-in');
    await expectAccessible('sign in');
    await page.getByLabel('Ticket').fill('not-a-real-ticket');
    await page.getByLabel('Ticket').press('Enter');
    await visible(page.getByRole('alert').filter({ hasText: 'That ticket was refused' }));
    await screenshot('02-sign-in-refused');
    await expectAccessible('sign in refused');
    expect(await page.evaluate('sessionStorage.length')).toBe(0);

    await signIn(t.ticket);
    expect(await page.evaluate("sessionStorage.getItem('webhook-agent.ticket')")).toBe(t.ticket);
    expect(await context.cookies()).toEqual([]);
    await visible(page.getByText('No webhooks yet'));
  });

  it('shows why a save is refused when the target fails verification, and nothing is stored', async () => {
    await page.getByRole('button', { name: 'New webhook' }).click();
    await page.locator('form.webhook-form').getByLabel('Name', { exact: true }).fill('Refused hook');
    await page.locator('form.webhook-form').getByLabel('Target URL').fill(refusing.url);
    await page.locator('form.webhook-form').getByLabel('Events').fill('order.created');
    await page.getByRole('button', { name: 'Create webhook' }).click();
    const refusal = page.getByRole('alert').filter({ hasText: 'Not saved' });
    await visible(refusal);
    expect(await refusal.textContent()).toMatch(/403/);
    expect(await refusal.textContent()).toMatch(/no thanks: unknown sender/);
    await screenshot('03-create-refused');
    await expectAccessible('create refused');
    expect(await (await api('GET', '/Webhook')).json()).toEqual([]);
  });

  it('creates a webhook whose target passes; a name with <script> shows as text and runs nothing', async () => {
    await page.locator('form.webhook-form').getByLabel('Name', { exact: true }).fill(SCRIPT_NAME);
    await page.locator('form.webhook-form').getByLabel('Target URL').fill(flaky.url);
    await page.getByRole('button', { name: 'Create webhook' }).click();
    await visible(page.getByRole('status').filter({ hasText: 'Saved' }));
    const row = page.getByRole('row').filter({ hasText: 'Orders hook' });
    await visible(row);
    expect(await row.getByRole('link').textContent()).toBe(SCRIPT_NAME);
    expect(await page.evaluate('window.__injected')).toBeUndefined();
    expect(await page.locator('td script').count()).toBe(0);
    const [stored] = (await (await api('GET', '/Webhook')).json()) as any[];
    expect(stored).toMatchObject({ Name: SCRIPT_NAME, State: 'Active', Events: ['order.created'] });
    orderHookId = stored.WebhookId;

    // Filters: by name, by event, by state.
    await page.getByLabel('Name contains').fill('nomatch');
    await visible(page.getByText('No webhooks match these filters'));
    await page.getByLabel('Name contains').fill('orders');
    await visible(row);
    await page.getByLabel('Event', { exact: true }).fill('order.created');
    await visible(row);
    await page.locator('select[name=statusFilter]').selectOption('Stopped');
    await visible(page.getByText('No webhooks match these filters'));
    await page.locator('select[name=statusFilter]').selectOption('');
    await page.getByLabel('Event', { exact: true }).fill('');
    await page.getByLabel('Name contains').fill('');
    await visible(row);
    await screenshot('04-webhooks');
    await expectAccessible('webhooks');
  });

  it('tests a webhook from its row and shows what the target answered', async () => {
    await page.getByRole('row').filter({ hasText: 'Orders hook' }).getByRole('button', { name: 'Test' }).click();
    const result = page.getByRole('status').filter({ hasText: 'the target answered 200' });
    await visible(result);
    expect(await result.textContent()).toMatch(/received/);
  });

  it('shows failed attempts with status and body, then a redelivery whose new cycle succeeds', async () => {
    for (const key of [1, 2]) expect((await api('POST', `/Webhook/order.created/${key}`)).status).toBe(204);
    await page.getByRole('link', { name: SCRIPT_NAME }).click();
    await page.getByRole('heading', { name: SCRIPT_NAME, level: 1 }).waitFor();
    const failedRows = page.locator('tbody.delivery > tr:first-child .status-failed');
    await eventually(() => failedRows.count(), (n) => n === 2, '2 rows');

    // The newest delivery first; its attempts open with the keyboard.
    const newest = page.locator('tbody.delivery').first();
    expect(await newest.textContent()).toMatch(/order\.created #2/);
    const toggle = newest.getByRole('button', { name: /Show attempts/ });
    await toggle.focus();
    await toggle.press('Enter');
    const attempts = newest.locator('table.attempts tbody tr');
    await eventually(() => attempts.count(), (n) => n === 3, '3 rows');
    for (const text of await attempts.allTextContents()) {
      expect(text).toMatch(/failed/);
      expect(text).toMatch(/500/);
      expect(text).toMatch(/receiver exploded/);
    }
    expect(await newest.getByRole('button', { name: /Hide attempts/ }).getAttribute('aria-expanded')).toBe('true');
    await visible(page.locator('figure.chart svg[role="img"]'));
    await eventually(async () => page.locator('figure.chart .summary').textContent(), (text) => /6 attempts: 0 succeeded, 6 failed/.test(text ?? ''), 'text matching /6 attempts: 0 succeeded, 6 failed/');
    await screenshot('05-webhook-failed-attempts');
    await expectAccessible('webhook with failed attempts');

    failing = false;
    await newest.getByRole('button', { name: /^Redeliver/ }).click();
    await visible(page.getByRole('status').filter({ hasText: /redelivered: due now/ }));
    // The page updates itself: the expanded delivery gains cycle 2's successful attempt, still open.
    await visible(newest.locator('tr').first().locator('.status-succeeded'));
    await eventually(async () => page.locator('figure.chart .summary').textContent(), (text) => /7 attempts: 1 succeeded, 6 failed/.test(text ?? ''), 'the chart counting the success');
    await eventually(() => attempts.count(), (n) => n === 4, '4 rows');
    const last = (await attempts.allTextContents())[3];
    expect(last).toMatch(/^2\s*1/); // cycle 2, attempt 1
    expect(last).toMatch(/succeeded/);
    expect(last).toMatch(/200/);
    expect(await newest.textContent()).toMatch(/received/);
    await screenshot('06-webhook-redelivered');
    // The README's picture (docs/console.png is a copy): the top of this screen at laptop size.
    await page.locator('#chart-heading').evaluate((heading) => heading.closest('section')!.scrollIntoView());
    await page.screenshot({ path: path.join(OUTPUT, 'readme-console.png') });

    // The other failed delivery goes by "all failed since".
    await page.getByRole('button', { name: 'Redeliver all failed since then' }).click();
    await visible(page.getByRole('status').filter({ hasText: 'Redelivered 1 failed deliveries' }));
    await eventually(() => failedRows.count(), (n) => n === 0, '0 rows');
  });

  it('stops and starts the webhook (start verifies the target again)', async () => {
    await page.getByRole('group', { name: /Actions for/ }).getByRole('button', { name: 'Stop' }).click();
    await visible(page.locator('.title-row .badge').filter({ hasText: 'Stopped' }));
    expect(((await (await api('GET', `/Webhook/${orderHookId}`)).json()) as any).State).toBe('Stopped');
    await page.getByRole('group', { name: /Actions for/ }).getByRole('button', { name: 'Start' }).click();
    await visible(page.getByRole('status').filter({ hasText: 'Started' }));
    await visible(page.locator('.title-row .badge').filter({ hasText: 'Active' }));
    expect(((await (await api('GET', `/Webhook/${orderHookId}`)).json()) as any).State).toBe('Active');
  });

  it('edits the webhook; an edit whose target fails verification says why and changes nothing', async () => {
    await page.getByRole('group', { name: /Actions for/ }).getByRole('button', { name: 'Edit' }).click();
    const form = page.locator('form.webhook-form');
    await form.getByLabel('Target URL').fill(refusing.url);
    await form.getByRole('button', { name: 'Save changes' }).click();
    const refusal = form.getByRole('alert').filter({ hasText: 'Not saved' });
    await visible(refusal);
    expect(await refusal.textContent()).toMatch(/403 Forbidden and the body "no thanks: unknown sender"/);
    expect(((await (await api('GET', `/Webhook/${orderHookId}`)).json()) as any).TargetUrl).toBe(flaky.url);

    await form.getByLabel('Target URL').fill(flaky.url);
    await form.getByLabel('Description').fill('Orders to the <b>warehouse</b>');
    await form.getByRole('button', { name: 'Save changes' }).click();
    await visible(page.getByRole('status').filter({ hasText: 'Saved' }));
    await visible(page.locator('dl.settings').getByText('Orders to the <b>warehouse</b>'));
    expect(((await (await api('GET', `/Webhook/${orderHookId}`)).json()) as any).Description).toBe('Orders to the <b>warehouse</b>');
  });

  it('works at a phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot('07-webhook-phone');
    await expectAccessible('webhook at phone width');
    await page.getByRole('link', { name: '← All webhooks' }).click();
    await visible(page.getByRole('row').filter({ hasText: 'Orders hook' }));
    const scrollWidth = await page.evaluate('document.documentElement.scrollWidth');
    expect(scrollWidth).toBeLessThanOrEqual(390);
    await screenshot('08-webhooks-phone');
    await expectAccessible('webhooks at phone width');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("an application-bound ticket sees only its application's webhooks", async () => {
    const saved = await api('POST', '/Webhook', { Name: 'App one hook', Events: ['app.event'], TargetUrl: flaky.url }, { 'SO-AppToken': 'app-one' });
    expect(saved.status).toBe(201);
    const otherApp = await api('POST', '/Webhook', { Name: 'App two hook', Events: ['app.event'], TargetUrl: flaky.url }, { 'SO-AppToken': 'app-two' });
    expect(otherApp.status).toBe(201);
    const appOneTicket = await createTicket(t.service.db.dataSource, 'App one', 11, hashApplicationToken('app-one'));
    await signOut();
    await signIn(appOneTicket);
    await visible(page.getByRole('row').filter({ hasText: 'App one hook' }));
    expect(await page.getByText('Orders hook').count()).toBe(0);
    expect(await page.getByText('App two hook').count()).toBe(0);
    expect(await page.locator('table.webhooks tbody tr').count()).toBe(1);
    await screenshot('09-application-ticket');
    await page.goto(`${t.service.url}/#/webhooks/${orderHookId}`);
    await visible(page.getByText(`Webhook ${orderHookId} does not exist (any more), or this ticket may not see it.`));
    await signOut();
  });

  it('deletes a webhook only after a confirm', async () => {
    await signIn(t.ticket);
    const row = page.getByRole('row').filter({ hasText: 'Orders hook' });
    await row.getByRole('button', { name: 'Delete' }).click();
    await visible(row.getByText(/Delete .* and stop its pending deliveries\?/));
    await row.getByRole('button', { name: 'Keep it' }).click();
    expect((await api('GET', `/Webhook/${orderHookId}`)).status).toBe(200);
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await visible(page.getByRole('status').filter({ hasText: 'Deleted' }));
    expect((await api('GET', `/Webhook/${orderHookId}`)).status).toBe(404);
    expect(await page.getByRole('row').filter({ hasText: 'Orders hook' }).count()).toBe(0);
  });

  it('signs out when the ticket stops working, saying why', async () => {
    const shortLived = await createTicket(t.service.db.dataSource, 'Revoked soon', 12);
    await signOut();
    await signIn(shortLived);
    await t.service.db.dataSource.query('DELETE FROM ticket WHERE name = $1', ['Revoked soon']);
    await visible(page.getByRole('alert').filter({ hasText: 'Signed out' }));
    expect(await page.evaluate("sessionStorage.getItem('webhook-agent.ticket')")).toBeNull();
  });
});
