/**
 * ALLOWED_TARGET_CIDRS and the address guard through the real parts: a name that resolved to an
 * allowed address when the webhook was saved and resolves elsewhere when a delivery connects
 * (DNS rebinding) is refused by the worker's sender, and the refusal is in the attempt log; and
 * a save with State Stopped is address-checked too. DNS is stubbed (jest.spyOn on dns.lookup and
 * dns.promises.lookup), answers are loopback addresses only, and any connect off loopback fails
 * the test.
 */
import dns from 'node:dns';
import { ConfigError, loadConfig } from '../../src/config';
import { checkTargetHost, isAllowedAddress, TargetAddressError } from '../../src/outbound/addressGuard';
import { ACTOR, waitFor } from '../delivery/helpers';
import { startReceiver, type Receiver } from '../support/receiver';
import { blockOffLoopbackConnects } from '../support/loopbackOnly';
import { startTestService, type TestService } from '../support/testService';
import { databaseState, restCall, soapEnvelope, soapPost, soapSave } from './support';

const HOST = 'rebind.example.test';
/** What the stubbed resolver answers for HOST right now. */
let answer = '127.0.0.1';
const lookups: string[] = [];
let blocked: string[] = [];

let t: TestService;
let receiver: Receiver;

beforeAll(async () => {
  blocked = blockOffLoopbackConnects();
  const realLookup = dns.lookup;
  // The connect-time guard (guardedLookup) and the save-time check (checkTargetHost) both see `answer` for HOST.
  jest.spyOn(dns, 'lookup').mockImplementation(((hostname: string, options: unknown, callback: (...a: unknown[]) => void) => {
    if (hostname !== HOST) return (realLookup as (...a: unknown[]) => void)(hostname, options, callback);
    lookups.push(`connect ${answer}`);
    callback(null, [{ address: answer, family: 4 }]);
  }) as unknown as typeof dns.lookup);
  jest.spyOn(dns.promises, 'lookup').mockImplementation((async (hostname: string) => {
    if (hostname !== HOST) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    lookups.push(`save ${answer}`);
    return [{ address: answer, family: 4 }];
  }) as unknown as typeof dns.promises.lookup);

  // Connection: close, so every delivery opens a new connection and resolves again (a pooled
  // keep-alive connection stays on the address it was checked on when it was opened).
  receiver = await startReceiver((_req, res) => res.writeHead(200, { connection: 'close' }).end('ok'));
  t = await startTestService({
    ALLOW_PRIVATE_TARGETS: 'false',
    ALLOWED_TARGET_CIDRS: '127.0.0.1/32',
    ALLOW_HTTP_TARGETS: 'true',
    DELIVERY_RETRY_SCHEDULE_MS: '0,0',
    POLL_INTERVAL_MS: '100',
  });
});
afterAll(async () => {
  await t?.stop();
  await receiver?.close();
  jest.restoreAllMocks();
});
afterEach(() => {
  expect(blocked).toEqual([]);
});

/** Attempts whose result is recorded (an attempt is logged, result unknown, before it is sent). */
async function attemptsOf(webhookId: number): Promise<Array<{ http_status: number | null; error: string | null }>> {
  return t.service.db.dataSource.query('SELECT http_status, error FROM delivery_attempt WHERE webhook_id = $1 AND outcome IS NOT NULL ORDER BY attempt_id', [webhookId]);
}

describe('DNS rebinding at delivery time, through the worker and the real HTTP sender', () => {
  it('delivers while the name resolves to the allowed 127.0.0.1, and refuses it once it resolves to 127.0.0.2, with the address error in the attempt log', async () => {
    answer = '127.0.0.1';
    const saved = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['rebind.test'], TargetUrl: `http://${HOST}:${receiver.port}/hook` }) });
    expect(saved.status).toBe(201);
    const webhookId = saved.json.WebhookId as number;
    expect(receiver.requests).toHaveLength(1); // the verification POST, through the stubbed name

    await t.service.manager.signalEvent('rebind.test', 1, null, ACTOR);
    await waitFor('the delivery to 127.0.0.1', async () => (await attemptsOf(webhookId)).length === 1);
    expect(await attemptsOf(webhookId)).toEqual([{ http_status: 200, error: null }]);
    expect(receiver.requests).toHaveLength(2);

    answer = '127.0.0.2';
    await t.service.manager.signalEvent('rebind.test', 2, null, ACTOR);
    await waitFor('the refused attempts', async () => (await attemptsOf(webhookId)).length >= 4); // 1 + a cycle of 3
    const refused = (await attemptsOf(webhookId)).slice(1);
    for (const attempt of refused) {
      expect(attempt.http_status).toBeNull();
      expect(attempt.error).toMatch(/rebind\.example\.test resolves to 127\.0\.0\.2, a loopback, private, link-local or otherwise non-public address/);
    }
    expect(receiver.requests).toHaveLength(2); // nothing reached any receiver
    expect(lookups).toEqual(expect.arrayContaining(['save 127.0.0.1', 'connect 127.0.0.1', 'connect 127.0.0.2']));
    expect((await restCall(t, 'GET', `/Webhook/${webhookId}/LastError`)).text).toMatch(/resolves to 127\.0\.0\.2/);
  });
});

describe('SaveWebhook with State Stopped runs the address check too', () => {
  it.each([
    ['REST', async () => restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['a.b'], TargetUrl: `http://${HOST}/hook`, State: 'Stopped' }) })],
    ['SOAP', async () => soapPost(t, soapEnvelope(soapSave('', { targetUrl: `http://${HOST}/hook`, state: 'Stopped' }), t.ticket))],
  ])('%s: a Stopped webhook whose target resolves to a refused address is not stored', async (door, save) => {
    answer = '127.0.0.2';
    const before = await databaseState(t);
    const refused = await save();
    if (door === 'REST') {
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ ErrorType: 'VerificationFailedError' });
      expect(refused.json.Message).toMatch(/not saved: The target host rebind\.example\.test resolves to 127\.0\.0\.2/);
    } else {
      expect(refused.faultcode).toBe('soap:Client');
      expect(refused.faultstring).toMatch(/resolves to 127\.0\.0\.2/);
    }
    expect(await databaseState(t)).toBe(before);

    // The same save to an allowed address is stored, without a test POST (Stopped).
    answer = '127.0.0.1';
    const requests = receiver.requests.length;
    const stored = await save();
    expect(door === 'REST' ? stored.status : stored.faultcode).toBe(door === 'REST' ? 201 : null);
    expect(receiver.requests.length).toBe(requests);
  });

  it('an IP-literal target outside the allowed CIDRs is refused when saved Stopped', async () => {
    const refused = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['a.b'], TargetUrl: 'http://10.0.0.1/hook', State: 'Stopped' }) });
    expect(refused.status).toBe(400);
    expect(refused.json.Message).toMatch(/resolves to 10\.0\.0\.1/);
  });
});

describe('ALLOWED_TARGET_CIDRS', () => {
  it('parses comma-separated CIDRs and refuses anything else, naming it', () => {
    expect(loadConfig({}).allowedTargetCidrs).toEqual([]);
    expect(loadConfig({ ALLOWED_TARGET_CIDRS: ' 10.1.2.0/24, fd00:1::/64 ,' }).allowedTargetCidrs).toEqual(['10.1.2.0/24', 'fd00:1::/64']);
    expect(() => loadConfig({ ALLOWED_TARGET_CIDRS: '10.1.2.0/24,10.1.2.3' })).toThrow(ConfigError);
    expect(() => loadConfig({ ALLOWED_TARGET_CIDRS: '10.1.2.0/33' })).toThrow(/ALLOWED_TARGET_CIDRS contains "10.1.2.0\/33", which is not a CIDR/);
  });

  it('allows exactly those ranges (IPv4-mapped IPv6 as IPv4); public addresses stay allowed', async () => {
    const cidrs = ['10.1.2.0/24', 'fd00:1::/64'];
    expect(isAllowedAddress('10.1.2.200', cidrs)).toBe(true);
    expect(isAllowedAddress('::ffff:10.1.2.7', cidrs)).toBe(true);
    expect(isAllowedAddress('10.1.3.1', cidrs)).toBe(false);
    expect(isAllowedAddress('fd00:1::5', cidrs)).toBe(true);
    expect(isAllowedAddress('fd00:2::5', cidrs)).toBe(false);
    expect(isAllowedAddress('169.254.169.254', cidrs)).toBe(false);
    expect(isAllowedAddress('93.184.216.34', [])).toBe(true);
    await expect(checkTargetHost('10.1.2.9', false, cidrs)).resolves.toBeUndefined();
    await expect(checkTargetHost('10.1.3.9', false, cidrs)).rejects.toThrow(TargetAddressError);
  });
});
