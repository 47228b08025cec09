import crypto from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { waitFor } from '../delivery/helpers';
import { runCli } from '../support/cli';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { verifyStandardWebhooks, verifySuperOffice, WebhookVerificationError } from '../../src/verify';
import { restCall } from './support';

/**
 * Secret rotation with an overlap (SPEC 7, db/previousSecret.ts): during the window every
 * delivery verifies for a receiver holding the old Secret and for one holding the new, by both
 * schemes (X-SuperOffice-Signature / -Previous, and two v1 signatures checked by the
 * standardwebhooks package itself); after it only the new one does. The previous Secret is
 * sealed at rest like the Secret, and a save that sets a Secret directly has no overlap.
 */

const whsec = () => `whsec_${crypto.randomBytes(24).toString('base64')}`;
let t: TestService;
let receiver: Receiver;
const KEY = crypto.randomBytes(32).toString('base64');

const rest = (method: string, path: string, body?: unknown, contentType?: string) =>
  restCall(t, method, path, { body: body === undefined ? undefined : JSON.stringify(body), contentType });

/** Who can verify a delivery: by each scheme, with our verifier and (Standard Webhooks) the reference package. */
function verifiers(request: ReceivedRequest, secret: string) {
  const headers = request.headers as Record<string, string>;
  const passes = (check: () => unknown) => {
    try {
      check();
      return true;
    } catch (error) {
      if (error instanceof WebhookVerificationError || /signature|match/i.test((error as Error).message)) return false;
      throw error;
    }
  };
  return {
    superOffice: passes(() => verifySuperOffice(request.body, secret, headers)),
    // A plain Secret has no Standard Webhooks signature at all (the package cannot even load it).
    standard: secret.startsWith('whsec_') ? passes(() => verifyStandardWebhooks(request.body, secret, headers)) : null,
    standardPackage: secret.startsWith('whsec_') ? passes(() => new StandardWebhook(secret).verify(request.body.toString('utf8'), headers)) : null,
  };
}

async function createHook(secret: string, event: string): Promise<number> {
  const answer = await rest('POST', '/Webhook', { Name: 'rotating', Events: [event], TargetUrl: receiver.url, Secret: secret, State: 'Active' });
  expect(answer.status).toBe(201);
  return answer.json.WebhookId;
}

/** Signals `count` events and returns their deliveries (not the test POSTs) once all arrived. */
async function deliveriesOf(event: string, count: number): Promise<ReceivedRequest[]> {
  const keys: number[] = [];
  for (let i = 0; i < count; i++) {
    const key = crypto.randomInt(1, 2 ** 31 - 1);
    keys.push(key);
    expect((await rest('POST', `/Webhook/${event}/${key}`)).status).toBe(204);
  }
  return waitFor(`${count} deliveries of ${event}`, () => {
    const got = receiver.requests.filter((r) => r.headers['x-superoffice-event'] === event && keys.includes(JSON.parse(r.body.toString('utf8')).PrimaryKey));
    return got.length === count ? got : null;
  });
}

beforeAll(async () => {
  t = await startTestService({ SECRET_ENCRYPTION_KEY: KEY, RETENTION_INTERVAL_MS: '0' });
  receiver = await startReceiver((_req, res) => res.writeHead(200).end());
});
afterAll(async () => {
  await receiver.close();
  await t.stop();
});

describe('secret rotation with an overlap', () => {
  it('REST RotateSecret: during the window old and new Secret both verify every delivery, by both schemes; the previous Secret is sealed at rest', async () => {
    const oldSecret = whsec();
    const newSecret = whsec();
    const id = await createHook(oldSecret, 'rotate.rest');
    const rotated = await rest('POST', `/Webhook/${id}/RotateSecret`, { Secret: newSecret });
    expect(rotated.status).toBe(200);
    expect(rotated.json.Secret).toBe(newSecret);
    const expires = Date.parse(rotated.json.PreviousSecretExpires);
    expect(expires - Date.now()).toBeGreaterThan(24 * 3600_000 - 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(24 * 3600_000);

    const [row] = await t.service.db.dataSource.query('SELECT secret, previous_secret FROM webhook WHERE webhook_id = $1', [id]);
    expect(row.secret).toMatch(/^enc:v1:/);
    expect(row.previous_secret).toMatch(/^enc:v1:/);
    expect(JSON.stringify(row)).not.toContain(oldSecret.slice(6));

    for (const delivery of await deliveriesOf('rotate.rest', 3)) {
      expect(String(delivery.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(verifiers(delivery, oldSecret)).toEqual({ superOffice: true, standard: true, standardPackage: true });
      expect(verifiers(delivery, newSecret)).toEqual({ superOffice: true, standard: true, standardPackage: true });
      expect(verifiers(delivery, whsec())).toEqual({ superOffice: false, standard: false, standardPackage: false });
    }
  });

  it('Agents RotateSecret generates a whsec_ Secret; after the window (OverlapSeconds 1) only the new Secret verifies', async () => {
    const oldSecret = whsec();
    const id = await createHook(oldSecret, 'rotate.agents');
    const rotated = await rest('POST', '/Agents/Webhook/RotateSecret', { WebhookId: id, OverlapSeconds: 1 });
    expect(rotated.status).toBe(200);
    const newSecret: string = rotated.json.Secret;
    expect(newSecret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const [during] = await deliveriesOf('rotate.agents', 1);
    expect(verifiers(during, oldSecret)).toEqual({ superOffice: true, standard: true, standardPackage: true });

    await new Promise((resolve) => setTimeout(resolve, 1100));
    for (const delivery of await deliveriesOf('rotate.agents', 2)) {
      expect(delivery.headers['x-superoffice-signature-previous']).toBeUndefined();
      expect(String(delivery.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(verifiers(delivery, newSecret)).toEqual({ superOffice: true, standard: true, standardPackage: true });
      expect(verifiers(delivery, oldSecret)).toEqual({ superOffice: false, standard: false, standardPackage: false });
    }
    // The retention loop drops it for good (here called once by hand: the loop is off in this test).
    await t.service.delivery.purge();
    const [row] = await t.service.db.dataSource.query('SELECT previous_secret, previous_secret_until FROM webhook WHERE webhook_id = $1', [id]);
    expect(row).toEqual({ previous_secret: null, previous_secret_until: null });
  });

  it('plain (non-whsec) Secrets: the previous one signs X-SuperOffice-Signature-Previous; a whsec_ previous keeps its v1 signature', async () => {
    const id = await createHook('old plain secret', 'rotate.plain');
    expect((await rest('POST', `/Webhook/${id}/RotateSecret`, { Secret: 'new plain secret' })).status).toBe(200);
    const [plain] = await deliveriesOf('rotate.plain', 1);
    expect(plain.headers['webhook-signature']).toBeUndefined();
    expect(verifiers(plain, 'old plain secret')).toEqual({ superOffice: true, standard: null, standardPackage: null });
    expect(verifiers(plain, 'new plain secret')).toEqual({ superOffice: true, standard: null, standardPackage: null });
    expect(verifiers(plain, 'another plain secret')).toEqual({ superOffice: false, standard: null, standardPackage: null });

    const oldStandard = whsec();
    const id2 = await createHook(oldStandard, 'rotate.mixed');
    expect((await rest('POST', `/Webhook/${id2}/RotateSecret`, { Secret: 'plain after whsec' })).status).toBe(200);
    const [mixed] = await deliveriesOf('rotate.mixed', 1);
    expect(verifiers(mixed, oldStandard)).toEqual({ superOffice: true, standard: true, standardPackage: true });
    expect(verifiers(mixed, 'plain after whsec').superOffice).toBe(true);
  });

  it('a save that sets a new Secret directly replaces it at once (no overlap); a save that keeps it keeps the overlap', async () => {
    const oldSecret = whsec();
    const id = await createHook(oldSecret, 'rotate.save');
    const rotated = await rest('POST', `/Webhook/${id}/RotateSecret`);
    expect(rotated.status).toBe(200);
    expect((await rest('PATCH', `/Webhook/${id}`, { Name: 'renamed' }, 'application/merge-patch+json')).status).toBe(200);
    const [kept] = await deliveriesOf('rotate.save', 1);
    expect(verifiers(kept, oldSecret).standardPackage).toBe(true);

    const direct = whsec();
    expect((await rest('PATCH', `/Webhook/${id}`, { Secret: direct }, 'application/merge-patch+json')).status).toBe(200);
    const [after] = await deliveriesOf('rotate.save', 1);
    expect(after.headers['x-superoffice-signature-previous']).toBeUndefined();
    expect(verifiers(after, direct)).toEqual({ superOffice: true, standard: true, standardPackage: true });
    expect(verifiers(after, rotated.json.Secret)).toEqual({ superOffice: false, standard: false, standardPackage: false });
  });

  it('refuses a bad rotation with a clear error and changes nothing; another application\'s webhook is not found', async () => {
    const id = await createHook(whsec(), 'rotate.bad');
    const [before] = await t.service.db.dataSource.query('SELECT secret, previous_secret FROM webhook WHERE webhook_id = $1', [id]);
    const tooLong = await rest('POST', `/Webhook/${id}/RotateSecret`, { Secret: 's'.repeat(401) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.json.Message).toMatch(/Secret is 401 characters long/);
    const overlap = await rest('POST', `/Webhook/${id}/RotateSecret`, { OverlapSeconds: -5 });
    expect(overlap.status).toBe(400);
    expect(overlap.json.Message).toMatch(/OverlapSeconds -5 must be a whole number of seconds from 0/);
    const unknown = await rest('POST', `/Webhook/${id}/RotateSecret`, { Secrets: 'x' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.Message).toMatch(/unknown member "Secrets"/);
    const foreign = await restCall(t, 'POST', `/Webhook/${id}/RotateSecret`, { appToken: 'another-application', body: '{}' });
    expect(foreign.status).toBe(404);
    expect(await t.service.db.dataSource.query('SELECT secret, previous_secret FROM webhook WHERE webhook_id = $1', [id])).toEqual([before]);
  });

  it('CLI: webhooks rotate-secret ID [--secret S] [--overlap 2h] prints the new Secret alone on the last line', async () => {
    const oldSecret = whsec();
    const id = await createHook(oldSecret, 'rotate.cli');
    const run = await runCli(['webhooks', 'rotate-secret', String(id), '--overlap', '2h'], t.env);
    expect(run.code).toBe(0);
    const newSecret = run.stdout.trim().split('\n').pop()!;
    expect(newSecret).toMatch(/^whsec_/);
    expect(run.stderr).toMatch(/the previous one keeps signing until /);
    const [row] = await t.service.db.dataSource.query('SELECT extract(epoch FROM previous_secret_until - now())::int AS left FROM webhook WHERE webhook_id = $1', [id]);
    expect(row.left).toBeGreaterThan(7100);
    expect(row.left).toBeLessThanOrEqual(7200);
    const [delivery] = await deliveriesOf('rotate.cli', 1);
    expect(verifiers(delivery, oldSecret).standardPackage).toBe(true);
    expect(verifiers(delivery, newSecret).standardPackage).toBe(true);

    const given = await runCli(['webhooks', 'rotate-secret', String(id), '--secret', 'chosen by hand', '--overlap', '0'], t.env);
    expect(given.code).toBe(0);
    expect(given.stdout.trim()).toBe('chosen by hand');
    expect(given.stderr).toMatch(/no previous Secret signing beside it/);
    const bad = await runCli(['webhooks', 'rotate-secret', String(id), '--overlap', 'soon'], t.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--overlap "soon" must be a duration such as 24h/);
  });
});
