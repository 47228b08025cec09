import crypto from 'node:crypto';
import { createTicket } from '../../src/core/tickets';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { ARRAYS_NS, databaseState, restCall, soapEnvelope, soapPost, TNS, type Answer } from './support';

/**
 * Application isolation (NetServer Online's rule, core/caller.ts): two applications and an
 * operator exercise every operation on each other's webhooks through the SOAP door, the REST
 * resource routes and the Agents routes. Another application's webhook answers exactly as an id
 * that does not exist; an operator (no application) sees and manages all.
 */

interface Who {
  name: string;
  ticket: string;
  app: string | null;
}

/** What each door answers, normalized: a webhook (id, name) or "absent", and the error type if any. */
type Seen = { id: number; name: string } | null;
interface DoorOps {
  name: string;
  create(who: Who, name: string): Promise<number>;
  get(who: Who, id: number): Promise<Seen>;
  list(who: Who): Promise<number[]>;
  /** The error type of an update (or 'ok'). */
  update(who: Who, id: number, name: string): Promise<string>;
  remove(who: Who, id: number): Promise<string>;
  lastError(who: Who, id: number): Promise<string>;
  /** TestWebhook carrying `id` and the caller's own target: what the receiver was told. */
  test(who: Who, id: number, name: string): Promise<string>;
}

let t: TestService;
let receiver: Receiver;
let appA: Who;
let appB: Who;
let operator: Who;
const TOKEN_A = `appA-${crypto.randomUUID()}`;
const TOKEN_B = `appB-${crypto.randomUUID()}`;

const soapCall = (who: Who, body: string) => soapPost(t, soapEnvelope(body, who.ticket, who.app));
const soapError = (a: Answer) => (a.status === 200 ? 'ok' : /<ExceptionType>([^<]+)<\/ExceptionType>/.exec(a.text)?.[1] ?? `status ${a.status}`);
const carrierXml = (id: number, name: string, url: string, state = 'Stopped') =>
  `<Webhook><WebhookId>${id}</WebhookId><Name>${name}</Name><Events xmlns:a="${ARRAYS_NS}"><a:string>iso.test</a:string></Events><TargetUrl>${url}</TargetUrl><State>${state}</State></Webhook>`;
const soapSeen = (a: Answer): Seen => {
  if (a.status !== 200) throw new Error(a.text);
  const id = /<WebhookId>(\d+)<\/WebhookId>/.exec(a.text);
  return id ? { id: Number(id[1]), name: /<Name>([^<]*)<\/Name>/.exec(a.text)![1] } : null;
};

const soapDoor: DoorOps = {
  name: 'SOAP',
  async create(who, name) {
    return soapSeen(await soapCall(who, `<SaveWebhook xmlns="${TNS}">${carrierXml(0, name, receiver.url)}</SaveWebhook>`))!.id;
  },
  async get(who, id) {
    return soapSeen(await soapCall(who, `<GetWebhook xmlns="${TNS}"><WebhookId>${id}</WebhookId></GetWebhook>`));
  },
  async list(who) {
    const a = await soapCall(who, `<GetAllWebhooks xmlns="${TNS}"/>`);
    return [...a.text.matchAll(/<WebhookId>(\d+)<\/WebhookId>/g)].map((m) => Number(m[1]));
  },
  async update(who, id, name) {
    return soapError(await soapCall(who, `<SaveWebhook xmlns="${TNS}">${carrierXml(id, name, receiver.url)}</SaveWebhook>`));
  },
  async remove(who, id) {
    return soapError(await soapCall(who, `<DeleteWebhook xmlns="${TNS}"><WebhookId>${id}</WebhookId></DeleteWebhook>`));
  },
  async lastError(who, id) {
    const a = await soapCall(who, `<GetLastError xmlns="${TNS}"><WebhookId>${id}</WebhookId></GetLastError>`);
    return a.status === 200 ? (/<Response[^>]*>([^<]*)<\/Response>|<Response[^>]*\/>/.exec(a.text)?.[1] ?? '') : soapError(a);
  },
  async test(who, id, name) {
    return soapError(await soapCall(who, `<TestWebhook xmlns="${TNS}">${carrierXml(id, name, receiver.url, 'Active')}</TestWebhook>`));
  },
};

const rest = (who: Who, method: string, path: string, body?: unknown, contentType?: string) =>
  restCall(t, method, path, { ticket: who.ticket, appToken: who.app, body: body === undefined ? undefined : JSON.stringify(body), contentType });
const restType = (a: Answer) => (a.status < 300 ? 'ok' : a.json?.ErrorType ?? `status ${a.status}`);
const jsonCarrier = (name: string, extra: Record<string, unknown> = {}) => ({ Name: name, Events: ['iso.test'], TargetUrl: receiver.url, State: 'Stopped', ...extra });

const restDoor: DoorOps = {
  name: 'REST',
  async create(who, name) {
    const a = await rest(who, 'POST', '/Webhook', jsonCarrier(name));
    expect(a.status).toBe(201);
    return a.json.WebhookId;
  },
  async get(who, id) {
    const a = await rest(who, 'GET', `/Webhook/${id}`);
    if (a.status === 404) return null;
    return { id: a.json.WebhookId, name: a.json.Name };
  },
  async list(who) {
    return (await rest(who, 'GET', '/Webhook')).json.map((w: { WebhookId: number }) => w.WebhookId);
  },
  async update(who, id, name) {
    // PUT, then both PATCH flavours: each must refuse the same way.
    const put = restType(await rest(who, 'PUT', `/Webhook/${id}`, jsonCarrier(name)));
    const merge = restType(await rest(who, 'PATCH', `/Webhook/${id}`, { Name: name }, 'application/merge-patch+json'));
    const patch = restType(await rest(who, 'PATCH', `/Webhook/${id}`, [{ op: 'replace', path: '/Name', value: name }], 'application/json-patch+json'));
    const byBody = restType(await rest(who, 'POST', '/Webhook', { ...jsonCarrier(name), WebhookId: id }));
    return [...new Set([put, merge, patch, byBody])].join('|');
  },
  async remove(who, id) {
    return restType(await rest(who, 'DELETE', `/Webhook/${id}`));
  },
  async lastError(who, id) {
    const a = await rest(who, 'GET', `/Webhook/${id}/LastError`);
    return a.status === 200 ? a.json : restType(a);
  },
  async test(who, id, name) {
    return restType(await rest(who, 'POST', '/Webhook/Test', { ...jsonCarrier(name), WebhookId: id, State: 'Active' }));
  },
};

const agent = (who: Who, method: string, args: unknown) => rest(who, 'POST', `/Agents/Webhook/${method}`, args);
const agentsDoor: DoorOps = {
  name: 'Agents',
  async create(who, name) {
    return (await agent(who, 'SaveWebhook', { Webhook: jsonCarrier(name) })).json.WebhookId;
  },
  async get(who, id) {
    const a = await agent(who, 'GetWebhook', { WebhookId: id });
    return a.json === null ? null : { id: a.json.WebhookId, name: a.json.Name };
  },
  async list(who) {
    return (await agent(who, 'GetAllWebhooks', {})).json.map((w: { WebhookId: number }) => w.WebhookId);
  },
  async update(who, id, name) {
    return restType(await agent(who, 'SaveWebhook', { Webhook: { ...jsonCarrier(name), WebhookId: id } }));
  },
  async remove(who, id) {
    return restType(await agent(who, 'DeleteWebhook', { WebhookId: id }));
  },
  async lastError(who, id) {
    const a = await agent(who, 'GetLastError', { WebhookId: id });
    return a.status === 200 ? a.json : restType(a);
  },
  async test(who, id, name) {
    return restType(await agent(who, 'TestWebhook', { Webhook: { ...jsonCarrier(name), WebhookId: id, State: 'Active' } }));
  },
};

const DOORS = [soapDoor, restDoor, agentsDoor];
/** Webhook ids by owner name, one per door. */
const owned: Record<string, number[]> = { A: [], B: [], operator: [] };
const NOT_FOUND = { SOAP: 'NotFoundError', REST: 'NotFoundError', Agents: 'NotFoundError' } as const;
let missingId: number;

beforeAll(async () => {
  t = await startTestService();
  receiver = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
  appA = { name: 'A', ticket: await createTicket(t.service.db.dataSource, 'App A', 11), app: TOKEN_A };
  appB = { name: 'B', ticket: await createTicket(t.service.db.dataSource, 'App B', 12), app: TOKEN_B };
  operator = { name: 'operator', ticket: t.ticket, app: null };
  for (const door of DOORS) {
    for (const who of [appA, appB, operator]) owned[who.name].push(await door.create(who, `${who.name} via ${door.name}`));
  }
  missingId = Math.max(...Object.values(owned).flat()) + 1000;
});
afterAll(async () => {
  await receiver.close();
  await t.stop();
});

describe('application isolation', () => {
  it('stores the owner as the SHA-256 of the token, never the token', async () => {
    const rows: Array<{ webhook_id: number; application_hash: string | null }> = await t.service.db.dataSource.query('SELECT webhook_id, application_hash FROM webhook');
    const hash = (token: string) => crypto.createHash('sha256').update(token).digest('hex');
    for (const row of rows) {
      const expected = owned.A.includes(row.webhook_id) ? hash(TOKEN_A) : owned.B.includes(row.webhook_id) ? hash(TOKEN_B) : null;
      expect(row.application_hash).toBe(expected);
    }
    const everything = JSON.stringify(await t.service.db.dataSource.query('SELECT * FROM webhook'));
    expect(everything).not.toContain(TOKEN_A);
    expect(everything).not.toContain(TOKEN_B);
  });

  it.each(DOORS.map((door) => [door.name, door] as const))('%s: each application lists only its own webhooks; the operator lists all', async (_name, door) => {
    expect((await door.list(appA)).sort()).toEqual([...owned.A].sort());
    expect((await door.list(appB)).sort()).toEqual([...owned.B].sort());
    expect((await door.list(operator)).sort()).toEqual([...owned.A, ...owned.B, ...owned.operator].sort());
  });

  it.each(DOORS.map((door) => [door.name, door] as const))('%s: an application reads its own webhooks, made through any door', async (_name, door) => {
    for (const id of owned.A) expect(await door.get(appA, id)).toMatchObject({ id });
    for (const id of owned.B) expect(await door.get(appB, id)).toMatchObject({ id });
  });

  it.each(DOORS.map((door) => [door.name, door] as const))(
    '%s: another application\'s or the operator\'s webhook is invisible and untouchable, exactly like a missing id',
    async (doorName, door) => {
      const before = await databaseState(t);
      const missing = {
        get: await door.get(appA, missingId),
        update: await door.update(appA, missingId, 'x'),
        remove: await door.remove(appA, missingId),
        lastError: await door.lastError(appA, missingId),
      };
      expect(missing.get).toBeNull();
      expect(missing.update).toBe(NOT_FOUND[doorName as keyof typeof NOT_FOUND]);
      expect(missing.remove).toBe('NotFoundError');
      for (const [attacker, victims] of [
        [appA, [...owned.B, ...owned.operator]],
        [appB, [...owned.A, ...owned.operator]],
      ] as const) {
        for (const id of victims) {
          expect(await door.get(attacker, id)).toEqual(missing.get);
          expect(await door.update(attacker, id, 'hijacked')).toBe(missing.update);
          expect(await door.remove(attacker, id)).toBe(missing.remove);
          expect(await door.lastError(attacker, id)).toEqual(missing.lastError);
        }
      }
      expect(await databaseState(t)).toBe(before);
    },
  );

  it.each(DOORS.map((door) => [door.name, door] as const))('%s: TestWebhook with a foreign WebhookId uses only the caller\'s carrier', async (_name, door) => {
    const before = await databaseState(t);
    const sent = receiver.requests.length;
    expect(await door.test(appA, owned.B[0], 'A testing')).toBe('ok');
    const payload = JSON.parse(receiver.requests[sent].body.toString('utf8'));
    expect(payload.WebhookName).toBe('A testing');
    expect(JSON.stringify(payload)).not.toContain('B via');
    expect(await databaseState(t)).toBe(before);
  });

  it('an application updates its own webhook through every door and keeps owning it', async () => {
    for (const door of DOORS) expect(await door.update(appA, owned.A[0], `A renamed via ${door.name}`)).toBe('ok');
    const [row] = await t.service.db.dataSource.query('SELECT name, application_hash FROM webhook WHERE webhook_id = $1', [owned.A[0]]);
    expect(row.name).toBe('A renamed via Agents');
    expect(row.application_hash).toBe(crypto.createHash('sha256').update(TOKEN_A).digest('hex'));
  });

  it('the operator reads and updates an application\'s webhook, which stays that application\'s', async () => {
    for (const door of DOORS) {
      expect(await door.get(operator, owned.B[0])).toMatchObject({ id: owned.B[0] });
      expect(await door.update(operator, owned.B[0], `operator fixed via ${door.name}`)).toBe('ok');
    }
    expect(await soapDoor.get(appB, owned.B[0])).toEqual({ id: owned.B[0], name: 'operator fixed via Agents' });
    expect(await restDoor.get(appA, owned.B[0])).toBeNull();
  });

  it('a caller without an application is an operator (tickets carry no application); a blank token is no application', async () => {
    const ticketOnly: Who = { name: 'A without token', ticket: appA.ticket, app: null };
    expect((await restDoor.list(ticketOnly)).length).toBe(9);
    const blank = await soapPost(t, soapEnvelope(`<GetAllWebhooks xmlns="${TNS}"/>`, appA.ticket, '  '));
    expect(blank.text.match(/<WebhookId>/g)).toHaveLength(9);
  });

  it('each application deletes only its own, through every door', async () => {
    const ids = [...owned.A];
    for (const [index, door] of DOORS.entries()) {
      expect(await door.remove(appB, ids[index])).toBe('NotFoundError');
      expect(await door.remove(appA, ids[index])).toBe('ok');
    }
    expect(await restDoor.list(appA)).toEqual([]);
    expect((await restDoor.list(appB)).sort()).toEqual([...owned.B].sort());
    expect((await restDoor.list(operator)).length).toBe(6);
  });
});
