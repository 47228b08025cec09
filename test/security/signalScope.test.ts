import crypto from 'node:crypto';
import { hashApplicationToken } from '../../src/core/caller';
import { createTicket } from '../../src/core/tickets';
import { waitFor } from '../delivery/helpers';
import { startReceiver, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { ARRAYS_NS, restCall, soapEnvelope, soapPost, TNS } from './support';

/**
 * Scoped signals (SPEC 7, delivery/signal.ts): an application's SignalEvent reaches only its own
 * application's receivers, an operator's reaches every subscriber, and a webhook's state events
 * (started, stopped, errors) reach only subscribers owned as that webhook is. Checked twice:
 * the deliveries committed with the event (exact, at once) and what the receivers got.
 */

interface Who {
  name: 'A' | 'B' | 'operator';
  ticket: string;
  /** The ApplicationToken header sent; A's ticket is bound to its application and sends none. */
  app: string | null;
}

let t: TestService;
const receivers = {} as Record<Who['name'], Receiver>;
/** Test POSTs pass; a real delivery gets 410 Gone, so a subject trips to TooManyErrors at once. */
let subjectTarget: Receiver;
let A: Who;
let B: Who;
let operator: Who;
/** Per owner: the watching webhook (subscribes to the signal and every subject's state events) and its subject. */
const watcher = {} as Record<Who['name'], number>;
const subject = {} as Record<Who['name'], number>;
const TOKEN_A = `appA-${crypto.randomUUID()}`;
const TOKEN_B = `appB-${crypto.randomUUID()}`;
const OWNERS = ['A', 'B', 'operator'] as const;

const rest = (who: Who, method: string, path: string, body?: unknown) =>
  restCall(t, method, path, { ticket: who.ticket, appToken: who.app, body: body === undefined ? undefined : JSON.stringify(body) });
const soap = (who: Who, bodyXml: string) => soapPost(t, soapEnvelope(bodyXml, who.ticket, who.app));

const SIGNAL_DOORS = {
  SOAP: async (who: Who, event: string, key: number) =>
    soap(who, `<SignalEvent xmlns="${TNS}"><EventName>${event}</EventName><PrimaryKey>${key}</PrimaryKey></SignalEvent>`),
  REST: async (who: Who, event: string, key: number) => rest(who, 'POST', `/Webhook/${event}/${key}`, { from: who.name }),
  Agents: async (who: Who, event: string, key: number) => rest(who, 'POST', '/Agents/Webhook/SignalEvent', { EventName: event, PrimaryKey: key }),
};

async function create(who: Who, body: Record<string, unknown>): Promise<number> {
  const answer = await rest(who, 'POST', '/Webhook', body);
  expect(answer.status).toBe(201);
  return answer.json.WebhookId;
}

/** The receivers (by owner) that got a delivery whose payload matches. */
function receivedBy(match: (payload: any) => boolean): string[] {
  return OWNERS.filter((owner) => receivers[owner].requests.some((r) => r.headers['x-hook-test'] === undefined && match(JSON.parse(r.body.toString('utf8')))));
}

/** The owners whose watcher got a delivery of the event, straight from the delivery table. */
async function deliveredTo(eventName: string, primaryKey: number): Promise<string[]> {
  const rows: Array<{ webhook_id: number }> = await t.service.db.dataSource.query(
    'SELECT d.webhook_id FROM delivery d JOIN event e ON e.event_id = d.event_id WHERE e.name = $1 AND e.primary_key = $2',
    [eventName, primaryKey],
  );
  return OWNERS.filter((owner) => rows.some((r) => r.webhook_id === watcher[owner]));
}

beforeAll(async () => {
  t = await startTestService();
  for (const owner of OWNERS) receivers[owner] = await startReceiver((_req, res) => res.writeHead(200).end('ok'));
  subjectTarget = await startReceiver((req, res) => res.writeHead(req.headers['x-hook-test'] ? 200 : 410).end());
  const ds = t.service.db.dataSource;
  A = { name: 'A', ticket: await createTicket(ds, 'App A', 11, hashApplicationToken(TOKEN_A)), app: null };
  B = { name: 'B', ticket: await createTicket(ds, 'App B', 12), app: TOKEN_B };
  operator = { name: 'operator', ticket: t.ticket, app: null };
  for (const who of [A, B, operator]) {
    subject[who.name] = await create(who, { Name: `${who.name} subject`, Events: ['scope.trip'], TargetUrl: subjectTarget.url, State: 'Stopped' });
  }
  const stateEvents = Object.values(subject).flatMap((id) => [`webhook${id}.started`, `webhook${id}.stopped`, `webhook${id}.errors`]);
  for (const who of [A, B, operator]) {
    watcher[who.name] = await create(who, { Name: `${who.name} watcher`, Events: ['scope.signal', ...stateEvents], TargetUrl: receivers[who.name].url, State: 'Active' });
  }
});
afterAll(async () => {
  for (const r of [...Object.values(receivers), subjectTarget]) await r?.close();
  await t.stop();
});

describe('scoped signals', () => {
  const cases = Object.keys(SIGNAL_DOORS).flatMap((door, d) =>
    (['A', 'B', 'operator'] as const).map((name, w) => [door as keyof typeof SIGNAL_DOORS, name, 100 * (d + 1) + w] as const),
  );

  it.each(cases)('%s: a signal by %s reaches only the receivers it may reach (PrimaryKey %d)', async (door, name, key) => {
    const who = { A, B, operator }[name];
    const answer = await SIGNAL_DOORS[door](who, 'scope.signal', key);
    expect(answer.status).toBe(door === 'SOAP' ? 200 : 204);
    const expected = name === 'operator' ? ['A', 'B', 'operator'] : [name];
    expect(await deliveredTo('scope.signal', key)).toEqual(expected);
    const got = await waitFor(`the delivery of PrimaryKey ${key}`, () => {
      const owners = receivedBy((p) => p.Event === 'scope.signal' && p.PrimaryKey === key);
      return owners.length >= expected.length ? owners : null;
    });
    expect(got).toEqual(expected);
  });

  it('state events (started, stopped, errors) of a webhook reach only subscribers owned as it is, whatever door changed it', async () => {
    // started: through the REST door (merge patch), the SOAP door and the Agents door.
    const carrier = (id: number, state: string) =>
      `<SaveWebhook xmlns="${TNS}"><Webhook><WebhookId>${id}</WebhookId><Name>subject</Name><Events xmlns:a="${ARRAYS_NS}"><a:string>scope.trip</a:string></Events>` +
      `<TargetUrl>${subjectTarget.url}</TargetUrl><State>${state}</State></Webhook></SaveWebhook>`;
    expect((await restCall(t, 'PATCH', `/Webhook/${subject.A}`, { ticket: A.ticket, body: JSON.stringify({ State: 'Active' }), contentType: 'application/merge-patch+json' })).status).toBe(200);
    expect((await soap(B, carrier(subject.B, 'Active'))).status).toBe(200);
    const agentsSave = await rest(operator, 'POST', '/Agents/Webhook/SaveWebhook', { Webhook: { WebhookId: subject.operator, Name: 'subject', Events: ['scope.trip'], TargetUrl: subjectTarget.url, State: 'Active' } });
    expect(agentsSave.status).toBe(200);
    // errors: the operator's signal reaches every subject; each answers 410 and trips.
    expect((await SIGNAL_DOORS.REST(operator, 'scope.trip', 1)).status).toBe(204);
    await waitFor('all three subjects to trip', async () => {
      const rows: Array<{ state: number }> = await t.service.db.dataSource.query('SELECT state FROM webhook WHERE webhook_id = ANY($1::int[])', [Object.values(subject)]);
      return rows.every((r) => r.state === 3) || null;
    });
    // stopped: from TooManyErrors, by each owner.
    for (const who of [A, B, operator]) {
      expect((await soap(who, carrier(subject[who.name], 'Stopped'))).status).toBe(200);
    }

    for (const owner of OWNERS) {
      for (const change of ['started', 'errors', 'stopped']) {
        const event = `webhook${subject[owner]}.${change}`;
        expect({ event, to: await deliveredTo(event, subject[owner]) }).toEqual({ event, to: [owner] });
        const got = await waitFor(`${event} at ${owner}'s receiver`, () => (receivedBy((p) => p.Event === event).length > 0 ? receivedBy((p) => p.Event === event) : null));
        expect({ event, got }).toEqual({ event, got: [owner] });
      }
    }
  });
});
