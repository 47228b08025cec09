import crypto from 'node:crypto';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { NotImplementedError } from '../../src/core/errors';
import { toHttpError } from '../../src/rest/errors';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { REST_STATUS, restFetch, type RestFetch, type RestResponse } from './doors';

/**
 * What only the REST door has: statuses, headers, PATCH semantics, JSON edge cases. Every
 * response seen here is validated against the served OpenAPI document (ajv), and the last test
 * checks that every documented route was exercised, so the document cannot drift from the code.
 */

let t: TestService;
let receiver: Receiver;
let api: RestFetch;
let doc: any;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const seen = new Set<string>();

const escapePointer = (segment: string) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));

/** The documented operation a concrete request hit: literal segments win over parameters. */
function operationFor(method: string, path: string): { template: string; operation: any } {
  const pathname = path.split('?')[0];
  const candidates = Object.keys(doc.paths)
    .filter((template) => doc.paths[template][method.toLowerCase()])
    .filter((template) => new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`, 'i').test(pathname))
    .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0));
  if (candidates.length === 0) throw new Error(`${method} ${pathname} is not in the OpenAPI document`);
  return { template: candidates[0], operation: doc.paths[candidates[0]][method.toLowerCase()] };
}

/** Checks one real response against the document: a documented status, and a body matching its schema. */
function checkAgainstDocument(method: string, path: string, response: RestResponse): void {
  if (!doc || response.status === 404 && response.json?.ErrorType === 'NotFound') return; // unknown routes are not in the document
  const { template, operation } = operationFor(method, path);
  seen.add(`${method.toUpperCase()} ${template}`);
  let spec = operation.responses[String(response.status)];
  if (!spec) throw new Error(`${method} ${template} answered ${response.status}, which the document does not list`);
  let pointer = `openapi#/paths/${escapePointer(template)}/${method.toLowerCase()}/responses/${response.status}`;
  if (spec.$ref) {
    pointer = `openapi${spec.$ref.split('/').map((s: string, i: number) => (i === 0 ? s : escapePointer(s))).join('/')}`;
    spec = spec.$ref.split('/').slice(1).reduce((node: any, key: string) => node[key], doc);
  }
  const contentType = response.headers.get('content-type')?.split(';')[0];
  if (!spec.content) {
    expect(response.text).toBe('');
    return;
  }
  expect(Object.keys(spec.content)).toContain(contentType);
  const validate = ajv.getSchema(`${pointer}/content/${escapePointer(contentType!)}/schema`) ?? ajv.compile({ $ref: `${pointer}/content/${escapePointer(contentType!)}/schema` });
  if (!validate(response.json)) throw new Error(`${method} ${template} ${response.status} does not match the document: ${ajv.errorsText(validate.errors)}\n${response.text.slice(0, 500)}`);
}

const base = () => ({
  Name: 'rest hook',
  Events: ['rest.created'],
  TargetUrl: receiver.url,
  Headers: { 'X-Tenant': 'acme' },
  Properties: { tenant: 'acme' },
});

async function create(overrides: Record<string, unknown> = {}): Promise<any> {
  const response = await api('POST', '/Webhook', { body: { ...base(), ...overrides } });
  expect(response.status).toBe(201);
  return response.json;
}

function expectError(response: RestResponse, status: number, errorType: string, message: RegExp, field?: string): void {
  expect({ status: response.status, type: response.json?.ErrorType, field: response.json?.Field }).toEqual({ status, type: errorType, field });
  expect(response.json).toMatchObject({ Error: true });
  expect(response.json.Message).toMatch(message);
  expect(REST_STATUS[errorType]).toBe(status);
}

const storedRow = async (id: number) => (await t.service.db.dataSource.query('SELECT * FROM webhook WHERE webhook_id = $1', [id]))[0];

beforeAll(async () => {
  t = await startTestService({ BODY_LIMIT: '64kb' });
  receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
  api = restFetch(t.service.url, t.ticket, checkAgainstDocument);
  doc = (await api('GET', '/openapi.json')).json;
  ajv.addSchema(doc, 'openapi');
});
afterAll(async () => {
  await receiver?.close();
  await t?.stop();
});

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
  });

  it('has schemas that reject a body breaking them (the response checks are not vacuous)', () => {
    const validate = ajv.compile({ $ref: 'openapi#/components/schemas/Webhook' });
    expect(validate({ WebhookId: 1, Name: 'only two members' })).toBe(false);
    expect(validate({ ...JSON.parse(JSON.stringify(doc.components.schemas.Webhook.required.reduce((o: any, k: string) => ({ ...o, [k]: null }), {}))) })).toBe(false);
  });

  it('is served without a ticket', async () => {
    const response = await restFetch(t.service.url, null, checkAgainstDocument)('GET', '/openapi.json');
    expect(response.status).toBe(200);
    expect(response.json).toEqual(doc);
  });
});

describe('resource routes', () => {
  it('POST creates with 201 and a Location that GET answers; POST with a WebhookId updates with 200', async () => {
    const created = await api('POST', '/Webhook', { body: base() });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/api/v1/Webhook/${created.json.WebhookId}`);
    const got = await api('GET', created.headers.get('location')!.replace('/api/v1', ''));
    expect(got.status).toBe(200);
    expect(got.json).toEqual(created.json);
    expect(got.headers.get('last-modified')).toBe(new Date(created.json.Updated).toUTCString());
    const updated = await api('POST', '/Webhook', { body: { ...got.json, Name: 'via POST' } });
    expect(updated.status).toBe(200);
    expect(updated.json).toMatchObject({ WebhookId: created.json.WebhookId, Name: 'via POST', Registered: created.json.Registered });
  });

  it('GET /Webhook/default and GET /Webhook with each filter', async () => {
    const carrier = await api('GET', '/Webhook/default');
    expect(carrier.json).toMatchObject({ WebhookId: 0, State: 'Active' });
    // Written once at start, answered as express answers a JSON text: its type, length and weak ETag.
    const text = carrier.text;
    expect(carrier.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(carrier.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    expect(carrier.headers.get('etag')).toBe(`W/"${Buffer.byteLength(text).toString(16)}-${crypto.createHash('sha1').update(text).digest('base64').slice(0, 27)}"`);
    // Express's conditional GET still holds, as the document says. Our own Cache-Control: fetch adds
    // `no-cache` to a conditional request, which never gets a 304.
    const conditional = { 'if-none-match': carrier.headers.get('etag')!, 'cache-control': 'max-age=0' };
    expect((await api('GET', '/Webhook/default', { headers: conditional })).status).toBe(304);
    const a = await create({ Name: 'Filter Alpha', Events: ['filter.one'] });
    const b = await create({ Name: 'filter beta', Events: ['filter.two'], State: 'Stopped' });
    const ids = async (query: string) => (await api('GET', `/Webhook?${query}`)).json.map((w: any) => w.WebhookId);
    expect(await ids('nameFilter=FILTER')).toEqual([a.WebhookId, b.WebhookId]);
    expect(await ids('eventFilter=filter.two')).toEqual([b.WebhookId]);
    expect(await ids('nameFilter=filter&statusFilter=Stopped')).toEqual([b.WebhookId]);
    expect(await ids('NameFilter=filter&StatusFilter=unknown')).toEqual([a.WebhookId, b.WebhookId]);
    expectError(await api('GET', '/Webhook?statusFilter=Sleeping'), 400, 'BadRequest', /not a WebhookState/, 'StatusFilter');
    expectError(await api('GET', '/Webhook?nameFiltr=x'), 400, 'BadRequest', /unknown member "nameFiltr"/, 'nameFiltr');
    expectError(await api('GET', '/Webhook?nameFilter=a&nameFilter=b'), 400, 'BadRequest', /given once/, 'nameFilter');
  });

  it('PUT replaces the webhook; a different body WebhookId is 400, an unknown id 404', async () => {
    const hook = await create();
    const put = await api('PUT', `/Webhook/${hook.WebhookId}`, { body: { ...hook, Name: 'put', Headers: null } });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ WebhookId: hook.WebhookId, Name: 'put', Headers: null });
    expectError(await api('PUT', `/Webhook/${hook.WebhookId}`, { body: { ...hook, WebhookId: hook.WebhookId + 1 } }), 400, 'BadRequest', /differs/, 'WebhookId');
    expectError(await api('PUT', '/Webhook/987654', { body: base() }), 404, 'NotFoundError', /987654/);
    expectError(await api('GET', '/Webhook/987654'), 404, 'NotFoundError', /no webhook with WebhookId 987654/);
    expectError(await api('GET', '/Webhook/abc'), 400, 'BadRequest', /whole number/, 'WebhookId');
  });

  it('maps JSON Properties to typed entries: int, long beyond int32, double, boolean, string, nil', async () => {
    const hook = await create({ Properties: { i: 5, l: 3_000_000_000, d: 1.5, b: true, s: 'x', n: null } });
    expect(hook.Properties).toEqual({ i: 5, l: 3_000_000_000, d: 1.5, b: true, s: 'x', n: null });
    expect((await storedRow(hook.WebhookId)).properties).toEqual([
      { key: 'i', type: 'int', value: 5 },
      { key: 'l', type: 'long', value: 3_000_000_000 },
      { key: 'd', type: 'double', value: 1.5 },
      { key: 'b', type: 'boolean', value: true },
      { key: 's', type: 'string', value: 'x' },
      { key: 'n', type: null, value: null },
    ]);
    expectError(await api('POST', '/Webhook', { body: { ...base(), Properties: { nested: { a: 1 } } } }), 400, 'BadRequest', /"nested" is an object/, 'Properties');
    expectError(await api('POST', '/Webhook', { body: { ...base(), State: 'Sleeping' } }), 400, 'BadRequest', /not a WebhookState/, 'State');
    expectError(await api('POST', '/Webhook', { body: { ...base(), Registered: 'yesterday' } }), 400, 'BadRequest', /ISO-8601/, 'Registered');
  });

  it('keeps __proto__ and constructor keys as plain data in Headers, Properties and Data', async () => {
    const raw = JSON.stringify({ ...base(), Headers: null, Properties: null }).replace(
      '"Headers":null,"Properties":null',
      '"Headers":{"__proto__":"h"},"Properties":{"__proto__":"p","constructor":"c","toString":1}',
    );
    const created = await api('POST', '/Webhook', { rawBody: raw });
    expect(created.status).toBe(201);
    expect(JSON.parse(created.text).Properties).toEqual(JSON.parse('{"__proto__":"p","constructor":"c","toString":1}'));
    expect(Object.keys(JSON.parse(created.text).Headers)).toEqual(['__proto__']);
    const merged = await api('PATCH', `/Webhook/${created.json.WebhookId}`, { rawBody: '{"Properties":{"__proto__":"q"}}', contentType: 'application/merge-patch+json' });
    expect(merged.status).toBe(200);
    expect(Object.getOwnPropertyDescriptor(JSON.parse(merged.text).Properties, '__proto__')?.value).toBe('q');
    expectError(
      await api('PATCH', `/Webhook/${created.json.WebhookId}`, { body: [{ op: 'add', path: '/Properties/__proto__/polluted', value: 1 }], contentType: 'application/json-patch+json' }),
      400,
      'BadRequest',
      /may not name __proto__/,
    );
    const signal = await api('POST', '/Webhook/rest.created/1', { rawBody: '{"__proto__":{"polluted":true},"constructor":"c"}' });
    expectError(signal, 400, 'BadRequest', /"__proto__" is an object/, 'Data');
    expect((await api('POST', '/Webhook/rest.created/1', { rawBody: '{"__proto__":"x","constructor":"c"}' })).status).toBe(204);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });
});

describe('PATCH', () => {
  const jsonPatch = (id: number, operations: unknown, headers: Record<string, string> = {}) => api('PATCH', `/Webhook/${id}`, { body: operations, contentType: 'application/json-patch+json', headers });
  const mergePatch = (id: number, patch: unknown, headers: Record<string, string> = {}) => api('PATCH', `/Webhook/${id}`, { body: patch, contentType: 'application/merge-patch+json', headers });

  it('JSON Patch paths and Headers names are case-insensitive; test guards the change', async () => {
    const hook = await create();
    const patched = await jsonPatch(hook.WebhookId, [
      { op: 'test', path: '/name', value: 'rest hook' },
      { op: 'replace', path: '/NAME', value: 'patched' },
      { op: 'replace', path: '/headers/x-tenant', value: 'globex' },
      { op: 'copy', from: '/Name', path: '/Description' },
    ]);
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ Name: 'patched', Description: 'patched', Headers: { 'X-Tenant': 'globex' } });
  });

  it('a failed test operation is 409 and changes nothing', async () => {
    const hook = await create();
    const before = await storedRow(hook.WebhookId);
    expectError(await jsonPatch(hook.WebhookId, [{ op: 'replace', path: '/Name', value: 'x' }, { op: 'test', path: '/Name', value: 'not x' }]), 409, 'PatchTestFailed', /Operation 1 \(test \/Name\) failed/);
    expect(await storedRow(hook.WebhookId)).toEqual(before);
  });

  it('refuses patches that name unknown or system-owned members, or cannot apply', async () => {
    const hook = await create();
    expectError(await jsonPatch(hook.WebhookId, [{ op: 'replace', path: '/Nmae', value: 'x' }]), 400, 'BadRequest', /names no webhook member/, 'Nmae');
    expectError(await jsonPatch(hook.WebhookId, [{ op: 'replace', path: '/TotalCalls', value: 5 }]), 400, 'BadRequest', /maintained by the service/, 'TotalCalls');
    expectError(await jsonPatch(hook.WebhookId, [{ op: 'remove', path: '/Headers/X-Missing' }]), 400, 'BadRequest', /path does not exist/);
    expectError(await jsonPatch(hook.WebhookId, [{ op: 'frobnicate', path: '/Name' }]), 400, 'BadRequest', /use add, remove, replace, test, move or copy/);
    expectError(await jsonPatch(hook.WebhookId, { op: 'replace' }), 400, 'BadRequest', /array of operations/);
    expectError(await mergePatch(hook.WebhookId, { Nmae: 'x' }), 400, 'BadRequest', /unknown member "Nmae"/, 'Nmae');
    expectError(await mergePatch(hook.WebhookId, { WebhookId: 1 + hook.WebhookId }), 400, 'BadRequest', /cannot change WebhookId/, 'WebhookId');
    expectError(await mergePatch(hook.WebhookId, { Events: null }), 400, 'ValidationError', /Events is empty/, 'Events');
    expectError(await jsonPatch(987654, []), 404, 'NotFoundError', /987654/);
  });

  it('a merge patch matches header names case-insensitively and removes with null', async () => {
    const hook = await create({ Headers: { 'X-Tenant': 'acme', 'X-Other': '1' } });
    const patched = await mergePatch(hook.WebhookId, { headers: { 'x-tenant': 'globex', 'X-Other': null }, description: 'd' });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ Headers: { 'X-Tenant': 'globex' }, Description: 'd' });
  });

  it('If-Unmodified-Since before Updated is 412 and changes nothing; at or after Updated it proceeds', async () => {
    const hook = await create();
    const before = await storedRow(hook.WebhookId);
    const past = new Date(new Date(hook.Updated).getTime() - 5_000).toUTCString();
    expectError(await mergePatch(hook.WebhookId, { Name: 'late' }, { 'if-unmodified-since': past }), 412, 'PreconditionFailed', /was changed at/);
    expectError(await api('PUT', `/Webhook/${hook.WebhookId}`, { body: hook, headers: { 'if-unmodified-since': past } }), 412, 'PreconditionFailed', /was changed at/);
    expectError(await api('DELETE', `/Webhook/${hook.WebhookId}`, { headers: { 'if-unmodified-since': past } }), 412, 'PreconditionFailed', /was changed at/);
    expect(await storedRow(hook.WebhookId)).toEqual(before);
    const ok = await mergePatch(hook.WebhookId, { Name: 'on time' }, { 'if-unmodified-since': new Date(hook.Updated).toUTCString() });
    expect(ok.status).toBe(200);
  });

  it('another content type is 415 with Accept-Patch', async () => {
    const hook = await create();
    const response = await api('PATCH', `/Webhook/${hook.WebhookId}`, { body: { Name: 'x' }, contentType: 'application/json' });
    expectError(response, 415, 'UnsupportedMediaType', /application\/json-patch\+json or application\/merge-patch\+json/);
    expect(response.headers.get('accept-patch')).toBe('application/json-patch+json, application/merge-patch+json');
  });
});

describe('errors', () => {
  it('401 with WWW-Authenticate for a missing or wrong ticket; SOTicket is accepted', async () => {
    const anonymous = restFetch(t.service.url, null, checkAgainstDocument);
    const missing = await anonymous('GET', '/Webhook');
    expectError(missing, 401, 'UnauthorizedError', /No ticket was sent/);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="webhook-agent", SOTicket realm="webhook-agent"');
    const wrong = await anonymous('GET', '/Webhook', { headers: { authorization: 'Bearer wat_wrong' } });
    expectError(wrong, 401, 'UnauthorizedError', /unknown or revoked/);
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect((await anonymous('GET', '/Webhook/default', { headers: { authorization: `SOTicket ${t.ticket}` } })).status).toBe(200);
  });

  it('malformed JSON, unknown members and non-objects are 400; the wrong content type is 415; too large is 413', async () => {
    expectError(await api('POST', '/Webhook', { rawBody: '{"Name": ' }), 400, 'MalformedJson', /not valid JSON/);
    expectError(await api('POST', '/Webhook', { body: { ...base(), Colour: 'red', Size: 3 } }), 400, 'BadRequest', /unknown members "Colour", "Size"/, 'Colour');
    expectError(await api('POST', '/Webhook', { body: ['not', 'a', 'webhook'] }), 400, 'BadRequest', /must be a JSON object/, 'Webhook');
    expectError(await api('POST', '/Webhook', { rawBody: '<xml/>', contentType: 'text/xml' }), 415, 'UnsupportedMediaType', /application\/json/);
    expectError(await api('POST', '/Webhook', {}), 400, 'BadRequest', /needs a JSON body/);
    expectError(await api('POST', '/Webhook', { body: { ...base(), Description: 'x'.repeat(70_000) } }), 413, 'PayloadTooLarge', /65536 bytes/);
  });

  it('a target that fails verification is 400 with what it answered', async () => {
    const failing = await startReceiver((_req, res) => res.writeHead(503).end('maintenance'));
    try {
      expectError(await api('POST', '/Webhook', { body: { ...base(), TargetUrl: failing.url } }), 400, 'VerificationFailedError', /HTTP\/1\.1 503 Service Unavailable and the body "maintenance"\. The target must answer 200/);
      const tested = await api('POST', '/Webhook/Test', { body: { ...base(), TargetUrl: failing.url } });
      expect(tested.status).toBe(200);
      expect(tested.json).toMatchObject({ Success: false, Message: expect.stringContaining('maintenance') });
    } finally {
      await failing.close();
    }
  });

  it('an unknown route is a JSON 404', async () => {
    const response = await api('GET', '/Webhooks');
    expectError(response, 404, 'NotFound', /no route GET \/api\/v1\/Webhooks/);
  });

  it('the core\'s NotImplementedError is 501 with its message; any other exception is a generic 500', () => {
    expect(toHttpError(new NotImplementedError('SignalEvent is not available yet'))).toMatchObject({ status: 501, errorType: 'NotImplementedError', message: 'SignalEvent is not available yet' });
    expect(toHttpError(new Error('secret detail'))).toMatchObject({ status: 500, errorType: 'InternalError', message: expect.not.stringContaining('secret') });
  });
});

describe('SignalEvent, LastError and Delete routes', () => {
  it('POST /Webhook/{event}/{pk} answers 204 with or without Data; bad input is 400', async () => {
    expect((await api('POST', '/Webhook/rest.created/7', { body: { a: 1 } })).status).toBe(204);
    expect((await api('POST', '/Webhook/rest.created/7')).status).toBe(204);
    expectError(await api('POST', '/Webhook/rest.created/seven', { body: {} }), 400, 'BadRequest', /PrimaryKey/, 'PrimaryKey');
    expectError(await api('POST', '/Webhook/rest.created/7', { body: [1] }), 400, 'BadRequest', /Data must be a JSON object/, 'Data');
    expectError(await api('POST', '/Webhook/not-an-event/7', { body: {} }), 400, 'ValidationError', /not an event name/, 'EventName');
  });

  it('GET /Webhook/{id}/LastError answers a JSON string; an unknown id is 404', async () => {
    const hook = await create();
    const last = await api('GET', `/Webhook/${hook.WebhookId}/LastError`);
    expect(last.status).toBe(200);
    expect(last.text).toBe('""');
    expectError(await api('GET', '/Webhook/987654/LastError'), 404, 'NotFoundError', /987654/);
  });

  it('DELETE answers 204, then 404', async () => {
    const hook = await create();
    const deleted = await api('DELETE', `/Webhook/${hook.WebhookId}`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expectError(await api('DELETE', `/Webhook/${hook.WebhookId}`), 404, 'NotFoundError', /to delete/);
  });
});

describe('Agents RPC routes', () => {
  const rpc = (method: string, body?: unknown) => api('POST', `/Agents/Webhook/${method}`, body === undefined ? {} : { body });

  it('answers every operation by name with the SOAP request members', async () => {
    expect((await rpc('CreateDefaultWebhook')).json).toMatchObject({ WebhookId: 0 });
    const saved = await rpc('SaveWebhook', { Webhook: base() });
    expect(saved.status).toBe(200);
    const id = saved.json.WebhookId;
    expect((await rpc('GetWebhook', { WebhookId: id })).json).toEqual(saved.json);
    expect((await rpc('GetWebhook', { WebhookId: 987654 })).text).toBe('null');
    expect((await rpc('GetAllWebhooks', { NameFilter: 'rest hook', EventFilter: 'rest.created', StatusFilter: 'Active' })).json.map((w: any) => w.WebhookId)).toContain(id);
    expect((await rpc('GetAllWebhooks')).status).toBe(200);
    expect((await rpc('TestWebhook', { Webhook: base() })).json).toMatchObject({ Success: true });
    expect((await rpc('SignalEvent', { EventName: 'rest.created', PrimaryKey: 3, Data: { x: 1 } })).status).toBe(204);
    expect((await rpc('GetLastError', { WebhookId: id })).text).toBe('""');
    expect((await rpc('GetLastError', { WebhookId: 987654 })).text).toBe('""');
    expect((await rpc('deletewebhook', { webhookId: id })).status).toBe(204);
    expectError(await rpc('DeleteWebhook', { WebhookId: id }), 404, 'NotFoundError', /to delete/);
  });

  it('refuses unknown methods and unknown argument members', async () => {
    expectError(await rpc('FlyWebhook', {}), 404, 'NotFound', /use one of CreateDefaultWebhook/);
    expectError(await rpc('GetWebhook', { Id: 5 }), 400, 'BadRequest', /unknown member "Id"/, 'Id');
    expectError(await rpc('GetWebhook', { WebhookId: 'five' }), 400, 'BadRequest', /whole number/, 'WebhookId');
    expectError(await rpc('SaveWebhook', {}), 400, 'BadRequest', /must be a JSON object/, 'Webhook');
  });
});

describe('RotateSecret routes', () => {
  it('POST /Webhook/{id}/RotateSecret and the Agents RotateSecret answer as documented, errors too', async () => {
    const hook = await create({ Events: ['rest.rotate'], Secret: 'before rotation' });
    const generated = await api('POST', `/Webhook/${hook.WebhookId}/RotateSecret`);
    expect(generated.status).toBe(200);
    expect(generated.json).toMatchObject({ WebhookId: hook.WebhookId, Secret: expect.stringMatching(/^whsec_/) });
    expect(Date.parse(generated.json.PreviousSecretExpires)).toBeGreaterThan(Date.now());
    const given = await api('POST', '/Agents/Webhook/RotateSecret', { body: { WebhookId: hook.WebhookId, Secret: 'chosen', OverlapSeconds: 0 } });
    expect({ status: given.status, json: given.json }).toEqual({ status: 200, json: { WebhookId: hook.WebhookId, Secret: 'chosen', PreviousSecretExpires: null } });
    expect((await api('GET', `/Webhook/${hook.WebhookId}`)).json.Secret).toBe('chosen');
    expectError(await api('POST', `/Webhook/${hook.WebhookId}/RotateSecret`, { body: { OverlapSeconds: 2592001 } }), 400, 'ValidationError', /OverlapSeconds 2592001/, 'OverlapSeconds');
    expectError(await api('POST', `/Webhook/${hook.WebhookId}/RotateSecret`, { body: { Secret: 5 } }), 400, 'BadRequest', /Secret must be a JSON string/, 'Secret');
    expectError(await api('POST', '/Webhook/987654/RotateSecret'), 404, 'NotFoundError', /987654/);
    expectError(await api('POST', '/Agents/Webhook/RotateSecret', { body: { WebhookId: 987654 } }), 404, 'NotFoundError', /987654/);
  });
});

describe('Redelivery routes', () => {
  it('POST /Webhook/Deliveries/{deliveryId}/Redeliver and POST /Webhook/{id}/Redeliver answer as documented, errors too', async () => {
    // Verification passes, every delivery fails: with the default retry schedule the cycle ends failed after about 5 s.
    const failing = await startReceiver((req, res) => res.writeHead(req.headers['x-hook-test'] === 'true' ? 200 : 503).end());
    const hook = await create({ TargetUrl: failing.url, Events: ['rest.redeliver'] });
    try {
      expect((await api('POST', '/Webhook/rest.redeliver/1')).status).toBe(204);
      let failed: { id: string; event_id: string } | undefined;
      for (const deadline = Date.now() + 20_000; !failed && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
        [failed] = await t.service.db.dataSource.query(`SELECT delivery_id::text AS id, event_id FROM delivery WHERE webhook_id = $1 AND status = 'failed'`, [hook.WebhookId]);
      }
      expect(failed).toBeDefined();

      const one = await api('POST', `/Webhook/Deliveries/${failed!.id}/Redeliver`);
      expect({ status: one.status, json: one.json }).toEqual({ status: 200, json: { DeliveryId: failed!.id, EventId: failed!.event_id, Status: 'pending' } });
      expectError(await api('POST', `/Webhook/Deliveries/${failed!.id}/Redeliver`, { body: {} }), 409, 'ConflictError', /only failed deliveries/);
      expectError(await api('POST', '/Webhook/Deliveries/99999999/Redeliver'), 404, 'NotFoundError', /no delivery 99999999/);
      expectError(await api('POST', '/Webhook/Deliveries/12abc/Redeliver'), 400, 'ValidationError', /whole number/, 'DeliveryId');
      expectError(await api('POST', `/Webhook/Deliveries/${failed!.id}/Redeliver`, { rawBody: 'x', contentType: 'text/plain' }), 415, 'UnsupportedMediaType', /application\/json/);

      // The delivery is on its way again, so nothing failed is left to redeliver.
      const bulk = await api('POST', `/Webhook/${hook.WebhookId}/Redeliver`, { body: { Since: '2020-01-01T00:00:00Z' } });
      expect({ status: bulk.status, json: bulk.json }).toEqual({ status: 200, json: { Redelivered: 0, Pending: 0, Held: 0 } });
      expectError(await api('POST', `/Webhook/${hook.WebhookId}/Redeliver`, { body: { Since: 'yesterday' } }), 400, 'BadRequest', /Since must be an ISO-8601 time/, 'Since');
      expectError(await api('POST', '/Webhook/987654/Redeliver', { body: { Since: '2020-01-01T00:00:00Z' } }), 404, 'NotFoundError', /987654/);
    } finally {
      expect((await api('DELETE', `/Webhook/${hook.WebhookId}`)).status).toBe(204); // its redelivered delivery stops
      await failing.close();
    }
  });
});

describe('Delivery log read routes', () => {
  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 100))) {
      const found = await probe();
      if (found !== undefined) return found;
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  it('lists, pages and filters deliveries, shows attempts by cycle with status, body and redacted headers, and counts them, scoped by application', async () => {
    let healthy = false;
    const target = await startReceiver((req, res) =>
      req.headers['x-hook-test'] === 'true' || healthy ? res.writeHead(200).end('thanks') : res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance'),
    );
    const hook = await create({ TargetUrl: target.url, Events: ['rest.log'], Secret: 'log-secret', Headers: { Authorization: 'Bearer receiver-credential', 'X-Tenant': 'acme' } });
    try {
      const started = new Date(Date.now() - 1000).toISOString();
      expect((await api('POST', '/Webhook/rest.log/1')).status).toBe(204);
      expect((await api('POST', '/Webhook/rest.log/2')).status).toBe(204);
      const failed = await waitFor('two failed deliveries', async () => {
        const page = await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?status=failed`);
        return page.json.Deliveries.length === 2 ? page.json.Deliveries : undefined;
      });
      expect(failed.map((d: any) => [d.PrimaryKey, d.Status, d.Cycle, d.Attempts, d.LastError])).toEqual([
        [2, 'failed', 1, 3, 'HTTP 503'],
        [1, 'failed', 1, 3, 'HTTP 503'],
      ]);

      // Newest first, one a page, the cursor leads to the older one and then ends.
      const first = await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?Limit=1&since=${encodeURIComponent(started)}`);
      expect(first.json.Deliveries.map((d: any) => d.PrimaryKey)).toEqual([2]);
      const second = await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?limit=1&before=${first.json.NextCursor}`);
      expect({ keys: second.json.Deliveries.map((d: any) => d.PrimaryKey), next: second.json.NextCursor }).toEqual({ keys: [1], next: null });
      expect((await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?until=${encodeURIComponent(started)}`)).json.Deliveries).toEqual([]);
      expect((await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?status=succeeded`)).json.Deliveries).toEqual([]);

      const detail = await api('GET', `/Webhook/Deliveries/${failed[1].DeliveryId}`);
      expect(detail.json.AttemptLog.map((a: any) => [a.Cycle, a.AttemptNumber, a.Outcome, a.HttpStatus, a.ResponseBody, a.HeadersSent['X-SuperOffice-Retry']])).toEqual([
        [1, 1, 'failed', 503, 'down for maintenance', '0'],
        [1, 2, 'failed', 503, 'down for maintenance', '1'],
        [1, 3, 'failed', 503, 'down for maintenance', '2'],
      ]);
      const sent = detail.json.AttemptLog[0].HeadersSent;
      expect(sent).toMatchObject({ 'X-SuperOffice-Event': 'rest.log', 'X-SuperOffice-EventId': failed[1].EventId, 'X-Tenant': 'acme', Authorization: '(redacted)', 'X-SuperOffice-Signature': '(redacted)' });
      expect(JSON.stringify(detail.json)).not.toMatch(/receiver-credential|log-secret/);

      // A redelivery starts cycle 2; its attempt is told apart from cycle 1's.
      healthy = true;
      expect((await api('POST', `/Webhook/Deliveries/${failed[1].DeliveryId}/Redeliver`)).status).toBe(200);
      const redelivered = await waitFor('the redelivery to succeed', async () => {
        const d = await api('GET', `/Webhook/Deliveries/${failed[1].DeliveryId}`);
        return d.json.Status === 'succeeded' ? d.json : undefined;
      });
      expect(redelivered.Cycle).toBe(2);
      expect(redelivered.AttemptLog.map((a: any) => [a.Cycle, a.AttemptNumber, a.Outcome, a.HttpStatus])).toEqual([
        [1, 1, 'failed', 503],
        [1, 2, 'failed', 503],
        [1, 3, 'failed', 503],
        [2, 1, 'succeeded', 200],
      ]);

      const stats = await api('GET', `/Webhook/${hook.WebhookId}/Statistics?Bucket=600`);
      expect(stats.json).toMatchObject({ BucketSeconds: 600, Attempts: 7, Successes: 1, Failures: 6 });
      expect(stats.json.Buckets).toHaveLength(144);
      expect(stats.json.Buckets.reduce((sum: number, b: any) => sum + b.Attempts, 0)).toBe(7);
      expect(stats.json.LatencyP95Ms).toBeGreaterThanOrEqual(stats.json.LatencyP50Ms);
      const empty = await api('GET', `/Webhook/${hook.WebhookId}/Statistics?since=2020-01-01T00:00:00Z&until=2020-01-01T01:00:00Z&bucket=900`);
      expect(empty.json).toMatchObject({ Attempts: 0, Successes: 0, Failures: 0, LatencyP50Ms: null, LatencyP95Ms: null });
      expect(empty.json.Buckets.map((b: any) => b.Start)).toEqual(['2020-01-01T00:00:00.000Z', '2020-01-01T00:15:00.000Z', '2020-01-01T00:30:00.000Z', '2020-01-01T00:45:00.000Z']);

      // Another application's token sees none of it, as if it did not exist.
      const other = { headers: { 'SO-AppToken': 'some-other-app' } };
      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Deliveries`, other), 404, 'NotFoundError', /no webhook/);
      expectError(await api('GET', `/Webhook/Deliveries/${failed[1].DeliveryId}`, other), 404, 'NotFoundError', /no delivery/);
      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Statistics`, other), 404, 'NotFoundError', /no webhook/);

      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?status=lost`), 400, 'ValidationError', /not a delivery status/, 'Status');
      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?since=yesterday`), 400, 'BadRequest', /ISO-8601/, 'Since');
      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?limit=0`), 400, 'ValidationError', /Limit/, 'Limit');
      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Deliveries?colour=red`), 400, 'BadRequest', /unknown member "colour"/, 'colour');
      expectError(await api('GET', `/Webhook/${hook.WebhookId}/Statistics?bucket=1`), 400, 'ValidationError', /more than 1000 buckets/, 'Bucket');
      expectError(await api('GET', '/Webhook/Deliveries/12abc'), 400, 'ValidationError', /whole number/, 'DeliveryId');
      expectError(await api('GET', '/Webhook/Deliveries/99999999'), 404, 'NotFoundError', /no delivery 99999999/);
      expectError(await api('GET', '/Webhook/987654/Statistics'), 404, 'NotFoundError', /987654/);
    } finally {
      expect((await api('DELETE', `/Webhook/${hook.WebhookId}`)).status).toBe(204);
      await target.close();
    }
  });
});

it('GET /Webhook/Notifications lists the in-app notifications (none for a new service)', async () => {
  const response = await api('GET', '/Webhook/Notifications');
  expect(response.status).toBe(200);
  expect(response.json).toEqual([]);
});

it('every route in the OpenAPI document was called above and answered as documented', () => {
  const documented = Object.entries(doc.paths).flatMap(([template, item]: [string, any]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${template}`));
  expect(documented.length).toBeGreaterThanOrEqual(18);
  expect(documented.filter((route) => !seen.has(route))).toEqual([]);
});
