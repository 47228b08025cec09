import dns from 'node:dns';
import net from 'node:net';
import { checkTargetHost, guardedLookup, TargetAddressError } from '../../src/outbound/addressGuard';
import { blockOffLoopbackConnects } from '../support/loopbackOnly';
import { startTestService, type TestService } from '../support/testService';
import { databaseState, expectAlive, restCall, soapEnvelope, soapPost, soapSave, TNS } from './support';

/**
 * Targets on private, loopback, link-local (cloud metadata) addresses are refused when the
 * operator has not allowed private networks. DNS is stubbed (jest.spyOn(dns.promises.lookup),
 * no real resolution), and every socket connect to anything but loopback is blocked and
 * recorded, so these tests can never send a packet off this machine.
 */

const PUBLIC = '93.184.216.34';
const RESOLVES: Record<string, string[]> = {
  'internal.example.test': ['10.0.0.1'],
  'mixed.example.test': [PUBLIC, '10.0.0.1'],
  'metadata.example.test': ['169.254.169.254'],
  'v6private.example.test': ['fd00::1'],
};

let t: TestService;
let blocked: string[] = [];
const lookups: string[] = [];

function stubbedLookup(hostname: string): dns.LookupAddress[] {
  lookups.push(hostname);
  const addresses = RESOLVES[hostname];
  if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  return addresses.map((address) => ({ address, family: net.isIPv6(address) ? 6 : 4 }));
}

beforeAll(async () => {
  blocked = blockOffLoopbackConnects();
  jest.spyOn(dns.promises, 'lookup').mockImplementation((async (hostname: string) => stubbedLookup(hostname)) as unknown as typeof dns.promises.lookup);
  t = await startTestService({ ALLOW_PRIVATE_TARGETS: 'false', ALLOW_HTTP_TARGETS: 'true' });
});
afterAll(async () => {
  await t.stop();
  jest.restoreAllMocks();
});
afterEach(() => {
  expect(blocked).toEqual([]);
});

const cases: Array<[string, string, RegExp]> = [
  ['IPv6 loopback', 'http://[::1]/hook', /resolves to ::1, a loopback, private/],
  ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/', /resolves to 169\.254\.169\.254/],
  ['a name resolving to 10.0.0.1', 'https://internal.example.test/hook', /internal\.example\.test resolves to 10\.0\.0\.1/],
  ['a name with one public and one private address', 'https://mixed.example.test/hook', /resolves to 10\.0\.0\.1/],
  ['a name resolving to the metadata address', 'https://metadata.example.test/', /resolves to 169\.254\.169\.254/],
  ['a name resolving to an IPv6 unique-local address', 'https://v6private.example.test/', /resolves to fd00::1/],
  ['an IPv4-mapped IPv6 metadata address', 'http://[::ffff:169.254.169.254]/', /resolves to ::ffff:a9fe:a9fe/],
  ['127.0.0.1 written in hex', 'http://0x7f.1/hook', /resolves to 127\.0\.0\.1/],
  ['0.0.0.0', 'http://0.0.0.0:8080/', /resolves to 0\.0\.0\.0/],
  ['a name that does not resolve', 'https://nowhere.example.test/', /could not be resolved \(ENOTFOUND\)/],
];

describe('private and metadata targets are refused before any connection', () => {
  it.each(cases)('SOAP SaveWebhook: %s', async (_name, url, message) => {
    const before = await databaseState(t);
    const answer = await soapPost(t, soapEnvelope(soapSave('', { targetUrl: url, state: 'Active' }), t.ticket));
    expect(answer.faultcode).toBe('soap:Client');
    expect(answer.faultstring).toMatch(message);
    expect(await databaseState(t)).toBe(before);
  });

  it.each(cases)('REST POST /Webhook: %s', async (_name, url, message) => {
    const before = await databaseState(t);
    const answer = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['a.b'], TargetUrl: url }) });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ ErrorType: 'VerificationFailedError' });
    expect(answer.json.Message).toMatch(message);
    expect(await databaseState(t)).toBe(before);
  });

  it.each(cases)('TestWebhook on both doors: %s answers Success false', async (_name, url, message) => {
    const soap = await soapPost(t, soapEnvelope(`<TestWebhook xmlns="${TNS}">${soapSave('', { targetUrl: url, state: 'Active' }).replace(/^<SaveWebhook[^>]*>|<\/SaveWebhook>$/g, '')}</TestWebhook>`, t.ticket));
    expect(soap.status).toBe(200);
    expect(soap.text).toContain('<Success>false</Success>');
    const rest = await restCall(t, 'POST', '/Webhook/Test', { body: JSON.stringify({ Events: ['a.b'], TargetUrl: url }) });
    expect(rest.json.Success).toBe(false);
    expect(rest.json.Message).toMatch(message);
  });

  it('used the stubbed resolver, not real DNS', () => {
    expect(lookups).toEqual(expect.arrayContaining(['internal.example.test', 'mixed.example.test', 'nowhere.example.test']));
  });

  it('the server keeps serving', async () => {
    await expectAlive(t);
  });
});

describe('the delivery-time guard (src/outbound/addressGuard.ts, used on every connect)', () => {
  it('checkTargetHost refuses a name resolving to 10.0.0.1 and passes a public one', async () => {
    await expect(checkTargetHost('internal.example.test', false)).rejects.toThrow(TargetAddressError);
    RESOLVES['public.example.test'] = [PUBLIC];
    await expect(checkTargetHost('public.example.test', false)).resolves.toBeUndefined();
  });

  it('guardedLookup refuses a name that re-resolves to a private address at connect time (DNS rebinding)', async () => {
    // First answer public (what a save-time check would see), then private (what a connect would get).
    const answers = [[{ address: PUBLIC, family: 4 }], [{ address: '10.0.0.1', family: 4 }]];
    const spy = jest.spyOn(dns, 'lookup').mockImplementation(((_host: string, _options: unknown, callback: (e: Error | null, a: dns.LookupAddress[]) => void) => {
      callback(null, answers.shift()!);
    }) as unknown as typeof dns.lookup);
    try {
      const lookup = guardedLookup(false)!;
      const resolve = () =>
        new Promise<string>((done, fail) => lookup('rebinding.example.test', { all: false }, (error: Error | null, address: unknown) => (error ? fail(error) : done(address as string))));
      await expect(resolve()).resolves.toBe(PUBLIC);
      await expect(resolve()).rejects.toThrow(/rebinding\.example\.test resolves to 10\.0\.0\.1/);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
  });

  it('with ALLOW_PRIVATE_TARGETS the guard is off (no lookup hook at all)', () => {
    expect(guardedLookup(true)).toBeUndefined();
  });
});
