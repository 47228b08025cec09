import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { agentsDoor, restDoor, soapDoor, webapiDoor, type Door, type Outcome, type WebhookSpec, type WebhookView } from './doors';

/**
 * One scenario, written once, through every door onto the same core: SOAP (node-soap's client
 * from our WSDL), the REST resource routes and the REST Agents RPC routes. Each door must reach
 * the same outcomes: the same stored webhook, the same error type, message and field. The fourth
 * door is SuperOffice's own TypeScript client of the Agents API, @superoffice/webapi, as shipped.
 */

let t: TestService;
let receiver: Receiver;
let failing: Receiver;

beforeAll(async () => {
  t = await startTestService({ BODY_LIMIT: '64kb', VERIFY_TIMEOUT_MS: '1000', DELIVERY_RETRY_SCHEDULE_MS: '20,20', POLL_INTERVAL_MS: '50' });
  // Verification (X-Hook-Test) always passes; deliveries to a ?fail URL answer 500.
  receiver = await startReceiver((req, res) => {
    if (!req.headers['x-hook-test'] && req.url.includes('fail')) res.writeHead(500).end('receiver down');
    else res.writeHead(200).end('ok');
  });
  failing = await startReceiver((_req, res) => res.writeHead(500).end('nope'));
});
afterAll(async () => {
  await Promise.all([receiver?.close(), failing?.close()]);
  await t?.stop();
});

function value<T>(outcome: Outcome<T>): T {
  if (!outcome.ok) throw new Error(`expected success, got ${outcome.error.type}: ${outcome.error.message}`);
  return outcome.value;
}

function expectError<T>(outcome: Outcome<T>, type: string, message: RegExp, field: string | null = null): void {
  expect(outcome).toMatchObject({ ok: false, error: { type, field } });
  if (!outcome.ok) expect(outcome.error.message).toMatch(message);
}

async function waitFor<T>(probe: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result) return result;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const rowCount = async () => (await t.service.db.dataSource.query('SELECT count(*)::int AS n FROM webhook'))[0].n as number;

const doors: Array<[string, () => Promise<Door>]> = [
  ['SOAP', () => soapDoor(t.wsdlUrl, t.soapUrl, t.ticket)],
  ['REST', async () => restDoor(t.service.url, t.ticket)],
  ['Agents', async () => agentsDoor(t.service.url, t.ticket)],
  // SuperOffice's own generated client (@superoffice/webapi), unchanged: entity bodies, query arguments, SOTicket.
  ['webapi', async () => webapiDoor(t.service.url, t.ticket)],
];

describe.each(doors)('the webhook scenario through the %s door', (name, open) => {
  const tag = name.toLowerCase();
  let door: Door;
  let created: WebhookView;
  let stopped: WebhookView;

  const spec = (overrides: WebhookSpec = {}): WebhookSpec => ({
    Name: `${tag} Contact Handler`,
    Events: [`${tag}.created`, 'contact.changed'],
    TargetUrl: receiver.url,
    Secret: 'Something Super Secret',
    State: 'Active',
    Type: 'webhook',
    Headers: { 'X-Tenant': 'acme' },
    Properties: { tenant: 'acme', count: 42, flag: true, ratio: 0.5 },
    ...overrides,
  });

  beforeAll(async () => {
    door = await open();
  });

  it('CreateDefaultWebhook answers NetServer\'s unsaved defaults', async () => {
    const defaults = value(await door.createDefault());
    expect(defaults).toMatchObject({ WebhookId: 0, State: 'Active', Type: 'webhook', Events: ['contact.created', 'contact.deleted'], TotalCalls: 0, Registered: null });
  });

  it('SaveWebhook verifies the target with a signed test POST, then stores the webhook with the acting associate', async () => {
    const before = receiver.requests.length;
    created = value(await door.save(spec()));
    expect(created.WebhookId).toBeGreaterThan(0);
    expect(created).toMatchObject({
      Name: `${tag} Contact Handler`,
      Events: [`${tag}.created`, 'contact.changed'],
      State: 'Active',
      Headers: { 'X-Tenant': 'acme' },
      Properties: { tenant: 'acme', count: 42, flag: true, ratio: 0.5 },
      RegisteredAssociate: { AssociateId: 7, Name: 'Test Associate' },
      UpdatedAssociate: { AssociateId: 7 },
      TotalCalls: 0,
      TotalErrors: 0,
      ConsecutiveErrors: 0,
    });
    expect(Math.abs(created.Registered! - Date.now())).toBeLessThan(60_000);
    const tests = receiver.requests.slice(before).filter((r) => r.headers['x-hook-test'] === 'true');
    expect(tests).toHaveLength(1);
    expect(JSON.parse(tests[0].body.toString())).toMatchObject({ Event: 'test', WebhookName: `${tag} Contact Handler`, tenant: 'acme', count: 42 });
    expect(tests[0].headers['x-tenant']).toBe('acme');
  });

  it('GetWebhook answers what was stored', async () => {
    expect(value(await door.get(created.WebhookId))).toEqual(created);
  });

  it('GetAllWebhooks filters by name (case-insensitive substring), event and state; Unknown state means no filter', async () => {
    stopped = value(await door.save(spec({ Name: `${tag} stopped ONE`, Events: [`${tag}.deleted`], State: 'Stopped' })));
    const ids = (outcome: Outcome<WebhookView[]>) => value(outcome).map((w) => w.WebhookId);
    expect(ids(await door.list({ NameFilter: `${tag.toUpperCase()} CONTACT` }))).toEqual([created.WebhookId]);
    expect(ids(await door.list({ EventFilter: `${tag}.deleted` }))).toEqual([stopped.WebhookId]);
    expect(ids(await door.list({ NameFilter: tag, StatusFilter: 'Stopped' }))).toEqual([stopped.WebhookId]);
    expect(ids(await door.list({ NameFilter: tag, StatusFilter: 'Unknown' }))).toEqual([created.WebhookId, stopped.WebhookId]);
    expect(ids(await door.list({ NameFilter: `${tag} no such name` }))).toEqual([]);
    expect(ids(await door.list({}))).toEqual(expect.arrayContaining([created.WebhookId, stopped.WebhookId]));
  });

  it('a merge patch changes only what it names; null removes a dictionary key, and untouched Properties keep their types', async () => {
    const patched = value(await door.mergePatch(created.WebhookId, { Name: `${tag} renamed`, Headers: { 'X-Extra': '1' }, Properties: { count: null } }));
    expect(patched).toMatchObject({
      WebhookId: created.WebhookId,
      Name: `${tag} renamed`,
      Headers: { 'X-Tenant': 'acme', 'X-Extra': '1' },
      Properties: { tenant: 'acme', flag: true, ratio: 0.5 },
      TargetUrl: created.TargetUrl,
      Registered: created.Registered,
    });
    expect(patched.Properties).not.toHaveProperty('count');
    // The stored types survive the JSON round trip: the SOAP view shows them as xsi:type.
    const [stored] = await t.service.db.dataSource.query('SELECT properties FROM webhook WHERE webhook_id = $1', [created.WebhookId]);
    expect(stored.properties).toEqual(expect.arrayContaining([{ key: 'ratio', type: 'double', value: 0.5 }, { key: 'flag', type: 'boolean', value: true }]));
  });

  it('a JSON Patch adds, replaces and removes', async () => {
    const patched = value(
      await door.jsonPatch(created.WebhookId, [
        { op: 'replace', path: '/Description', value: 'patched' },
        { op: 'add', path: '/Events/-', value: `${tag}.changed` },
        { op: 'remove', path: '/Headers/X-Extra' },
      ]),
    );
    expect(patched).toMatchObject({ Description: 'patched', Events: [`${tag}.created`, 'contact.changed', `${tag}.changed`], Headers: { 'X-Tenant': 'acme' } });
    expect(patched.Headers).not.toHaveProperty('X-Extra');
  });

  it('SaveWebhook with an id updates, keeping Registered and moving Updated', async () => {
    const before = value(await door.get(created.WebhookId))!;
    await new Promise((resolve) => setTimeout(resolve, 20));
    const updated = value(await door.save(spec({ WebhookId: created.WebhookId, Name: `${tag} updated`, Events: [`${tag}.created`] })));
    expect(updated).toMatchObject({ WebhookId: created.WebhookId, Name: `${tag} updated`, Events: [`${tag}.created`], Registered: created.Registered });
    expect(updated.Updated!).toBeGreaterThan(before.Updated!);
  });

  it('TestWebhook reports the target\'s answer and stores nothing', async () => {
    const count = await rowCount();
    const ok = value(await door.test(spec({ Name: `${tag} probe` })));
    expect(ok.Success).toBe(true);
    expect(ok.Message).toContain('200');
    const bad = value(await door.test(spec({ TargetUrl: failing.url })));
    expect(bad).toMatchObject({ Success: false });
    expect(bad.Message).toMatch(/500[\s\S]*nope/);
    expect(await rowCount()).toBe(count);
  });

  it('SignalEvent records the event and delivers it, Data as FieldValues, to the subscribed webhook', async () => {
    value(await door.signal(`${tag}.created`, 42, { a: 1, b: 'x', c: true, d: 1.5, e: null }));
    const delivery = await waitFor(
      async () => receiver.requests.find((r) => !r.headers['x-hook-test'] && r.headers['x-superoffice-event'] === `${tag}.created`),
      'the delivery',
    );
    expect(JSON.parse(delivery.body.toString())).toMatchObject({
      Event: `${tag}.created`,
      PrimaryKey: 42,
      Entity: tag,
      ChangedByAssociateId: 7,
      FieldValues: { a: 1, b: 'x', c: true, d: 1.5, e: null },
      Changes: ['a', 'b', 'c', 'd', 'e'],
    });
  });

  it('GetLastError answers the last delivery error, and the counters show it', async () => {
    const hook = value(await door.save(spec({ Name: `${tag} failing`, Events: [`${tag}.failing`], TargetUrl: `${receiver.url}?fail` })));
    expect(value(await door.lastError(hook.WebhookId))).toBe('');
    value(await door.signal(`${tag}.failing`, 1, null));
    const lastError = await waitFor(async () => value(await door.lastError(hook.WebhookId)), 'a last error');
    expect(lastError).toMatch(/500/);
    const after = value(await door.get(hook.WebhookId))!;
    expect(after.TotalErrors).toBeGreaterThanOrEqual(1);
    expect(after.ConsecutiveErrors).toBeGreaterThanOrEqual(1);
    expect(after.TotalCalls).toBeGreaterThanOrEqual(after.TotalErrors);
    expect(after.LastError).toMatch(/500/);
  });

  it('an unknown id reads as nothing: no webhook, no last error', async () => {
    expect(value(await door.get(987654))).toBeNull();
    expect(value(await door.lastError(987654))).toBe('');
  });

  it('DeleteWebhook removes the webhook; deleting it again is NotFoundError naming the id', async () => {
    value(await door.delete(stopped.WebhookId));
    expect(value(await door.get(stopped.WebhookId))).toBeNull();
    expectError(await door.delete(stopped.WebhookId), 'NotFoundError', new RegExp(`WebhookId ${stopped.WebhookId}`));
  });

  describe('errors', () => {
    it('invalid input is ValidationError naming the field, storing nothing', async () => {
      const count = await rowCount();
      expectError(await door.save(spec({ Events: [] })), 'ValidationError', /Events is empty/, 'Events');
      expectError(await door.save(spec({ Headers: { 'X-SuperOffice-Signature': 'forged' } })), 'ValidationError', /Headers may not set X-SuperOffice-Signature/, 'Headers');
      expectError(await door.save(spec({ Type: 'crmscript' })), 'ValidationError', /crmscript/, 'Type');
      expectError(await door.save(spec({ State: 'TooManyErrors' })), 'ValidationError', /set only by the service/, 'State');
      expectError(await door.signal('not an event', 1, null), 'ValidationError', /not an event name/, 'EventName');
      expect(await rowCount()).toBe(count);
    });

    it('a target that does not answer 200 is VerificationFailedError saying what it answered, storing nothing', async () => {
      const count = await rowCount();
      expectError(await door.save(spec({ TargetUrl: failing.url })), 'VerificationFailedError', /HTTP\/1\.1 500/);
      expect(await rowCount()).toBe(count);
    });

    it('updating an unknown id is NotFoundError', async () => {
      expectError(await door.save(spec({ WebhookId: 987654 })), 'NotFoundError', /no webhook with WebhookId 987654/);
    });

    it('a missing or wrong ticket is UnauthorizedError', async () => {
      expectError(await (await door.withTicket(null)).list({}), 'UnauthorizedError', /No ticket was sent/);
      expectError(await (await door.withTicket('wat_not-a-real-ticket')).list({}), 'UnauthorizedError', /unknown or revoked/);
    });

    it('a body over BODY_LIMIT is refused as too large', async () => {
      expectError(await door.save(spec({ Description: 'x'.repeat(70_000) })), 'PayloadTooLarge', /larger than the limit of 65536 bytes/);
    });

    it('our own fault is InternalError with a generic message and no details', async () => {
      const original = t.service.manager.getAllWebhooks;
      t.service.manager.getAllWebhooks = async () => {
        throw new Error('boom: secret internals at /src/db');
      };
      try {
        const outcome = await door.list({});
        expectError(outcome, 'InternalError', /internal error\. It has been logged/);
        expect(JSON.stringify(outcome)).not.toMatch(/boom|\/src\/|at \w+ \(/);
      } finally {
        t.service.manager.getAllWebhooks = original;
      }
    });
  });
});
