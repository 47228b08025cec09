import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { buildDeliveryHeaders } from '../../src/outbound/headers';
import { buildPayload, serializePayload } from '../../src/outbound/payload';
import { verifyStandardWebhooks, verifySuperOffice, verifyWebhook, webhookMiddleware, WebhookVerificationError } from '../../src/verify';
import { waitFor } from '../delivery/helpers';
import { startReceiver, type ReceivedRequest, type Receiver } from '../support/receiver';
import { startTestService, type TestService } from '../support/testService';
import { restCall } from '../security/support';

/**
 * The receivers' guide (docs/receiving.md) and toolkit (webhook-agent/verify): the worked
 * example is what the service really sends and signs; the verifier, its express middleware and
 * the guide's Python, C# and TypeScript examples accept real deliveries and refuse forged,
 * changed and replayed ones; the standardwebhooks package agrees.
 */

const ROOT = path.resolve(__dirname, '..', '..');
const GUIDE = fs.readFileSync(path.join(ROOT, 'docs', 'receiving.md'), 'utf8');
const whsec = () => `whsec_${crypto.randomBytes(24).toString('base64')}`;

/** A child process without blocking the event loop (the service under test keeps serving). */
function run(command: string, args: string[], input?: Buffer): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

function codeBlock(language: string, containing: string): string {
  const blocks = [...GUIDE.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
  const block = blocks.find((b) => b.includes(containing));
  if (!block) throw new Error(`docs/receiving.md has no ${language} block containing ${containing}`);
  return block;
}

describe('the worked example in docs/receiving.md', () => {
  const secret = /^Secret: `(whsec_[^`]+)`$/m.exec(GUIDE)![1];
  const body = codeBlock('json', '"EventId"').trimEnd();
  const headers = Object.fromEntries(
    codeBlock('http', 'webhook-signature')
      .trim()
      .split('\n')
      .map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  const attemptedAt = new Date('2026-12-01T12:00:05Z');

  it('is byte for byte the body and the signatures the service produces for that event', () => {
    const produced = serializePayload(
      buildPayload({
        eventId: '3f2b8a1c-5d4e-4f60-9a7b-1c2d3e4f5a6b',
        timestamp: new Date('2026-12-01T12:00:00Z'),
        eventName: 'contact.created',
        primaryKey: 123,
        data: { name: 'Ada Lovelace', vip: true },
        contextIdentifier: 'Cust12345',
        changedByAssociateId: 7,
        webhookName: 'Contact handler',
        properties: { tenant: 'acme' },
      }),
    );
    expect(produced.toString('utf8')).toBe(body);
    const signed = buildDeliveryHeaders({ eventName: 'contact.created', eventId: headers['webhook-id'], retry: 0, webhookHeaders: null, secret, body: produced, userAgent: 'x', isTest: false, now: attemptedAt });
    for (const name of ['x-superoffice-eventid', 'x-superoffice-signature', 'webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      expect({ name, value: Object.entries(signed).find(([k]) => k.toLowerCase() === name)?.[1] }).toEqual({ name, value: headers[name] });
    }
    const rotating = buildDeliveryHeaders({ eventName: 'contact.created', eventId: headers['webhook-id'], retry: 0, webhookHeaders: null, secret, previousSecret: 'Something Super Secret', body: produced, userAgent: 'x', isTest: false, now: attemptedAt });
    expect(GUIDE).toContain(`X-SuperOffice-Signature-Previous: ${rotating['X-SuperOffice-Signature-Previous']}\``);
  });

  it('verifies with webhook-agent/verify and with the standardwebhooks package at its time, and is refused as a replay now', () => {
    expect(verifyWebhook(body, secret, headers, { now: attemptedAt })).toBe('standard-webhooks');
    verifySuperOffice(body, secret, headers);
    const realNow = Date.now;
    Date.now = () => attemptedAt.getTime();
    try {
      expect(new StandardWebhook(secret).verify(body, headers)).toMatchObject({ EventId: headers['webhook-id'] });
    } finally {
      Date.now = realNow;
    }
    const later = new Date(attemptedAt.getTime() + 301_000);
    expect(() => verifyStandardWebhooks(body, secret, headers, { now: later })).toThrow(/beyond the 300-second tolerance: refused as a possible replay/);
    expect(() => verifyWebhook(body.replace('Ada', 'Eve'), secret, headers, { now: attemptedAt })).toThrow(WebhookVerificationError);
  });

  it('the openssl commands of the guide print the documented signatures', () => {
    const script = codeBlock('sh', 'openssl dgst');
    const result = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual([headers['x-superoffice-signature'], headers['webhook-signature'].slice(3)]);
  });
});

describe('verifying real deliveries', () => {
  let t: TestService;
  let receiver: Receiver;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-receiving-'));

  beforeAll(async () => {
    t = await startTestService();
    receiver = await startReceiver((_req, res) => res.writeHead(200).end());
  });
  afterAll(async () => {
    await receiver.close();
    await t.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function deliveryWith(secret: string, event: string): Promise<ReceivedRequest> {
    const saved = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: [event], TargetUrl: receiver.url, Secret: secret, State: 'Active' }) });
    expect(saved.status).toBe(201);
    expect((await restCall(t, 'POST', `/Webhook/${event}/42`, { body: JSON.stringify({ name: 'Zoë', n: 1.5 }) })).status).toBe(204);
    return waitFor(`a delivery of ${event}`, () => receiver.requests.find((r) => r.headers['x-superoffice-event'] === event));
  }

  it('webhook-agent/verify accepts real deliveries by the right scheme and refuses changed, foreign and replayed ones; the standardwebhooks package agrees', async () => {
    const standardSecret = whsec();
    const standard = await deliveryWith(standardSecret, 'verify.standard');
    const headers = standard.headers as Record<string, string>;
    expect(verifyWebhook(standard.body, standardSecret, headers)).toBe('standard-webhooks');
    expect(new StandardWebhook(standardSecret).verify(standard.body.toString('utf8'), headers)).toMatchObject({ Event: 'verify.standard' });
    expect(() => verifyWebhook(Buffer.concat([standard.body, Buffer.from(' ')]), standardSecret, headers)).toThrow(/No signature in webhook-signature matches/);
    expect(() => verifyWebhook(standard.body, whsec(), headers)).toThrow(WebhookVerificationError);
    expect(() => verifyStandardWebhooks(standard.body, standardSecret, headers, { now: new Date(Date.now() + 10 * 60_000) })).toThrow(/possible replay/);
    expect(() => new StandardWebhook(standardSecret).verify(standard.body.toString('utf8'), { ...headers, 'webhook-timestamp': String(Number(headers['webhook-timestamp']) - 600) })).toThrow();

    const plain = await deliveryWith('Something Super Secret', 'verify.plain');
    expect(verifyWebhook(plain.body, 'Something Super Secret', plain.headers as Record<string, string>)).toBe('superoffice');
    expect(() => verifyWebhook(plain.body, 'another secret', plain.headers as Record<string, string>)).toThrow(/X-SuperOffice-Signature does not match/);
    // A fetch Headers object works as well as Node's header object.
    expect(verifyWebhook(plain.body, 'Something Super Secret', new Headers(plain.headers as Record<string, string>))).toBe('superoffice');
  });

  it('the express middleware passes real deliveries (and the test POST) to the handler with the raw body; a bad signature gets 401 and never reaches it', async () => {
    const secret = whsec();
    const handled: Array<{ body: unknown; raw: Buffer }> = [];
    const app = express();
    app.post('/hook', webhookMiddleware({ secret }), (req, res) => {
      handled.push({ body: req.body, raw: (req as unknown as { rawBody: Buffer }).rawBody });
      res.sendStatus(200);
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      const saved = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['verify.middleware'], TargetUrl: url, Secret: secret, State: 'Active' }) });
      expect(saved.status).toBe(201); // the signed test POST passed the middleware
      expect((await restCall(t, 'POST', '/Webhook/verify.middleware/7', { body: JSON.stringify({ a: 'b' }) })).status).toBe(204);
      const delivered = await waitFor('the delivery through the middleware', () => handled.find((h) => (h.body as { Event: string }).Event === 'verify.middleware'));
      expect(delivered.body).toMatchObject({ PrimaryKey: 7, FieldValues: { a: 'b' } });
      expect(JSON.parse(delivered.raw.toString('utf8'))).toEqual(delivered.body);

      const count = handled.length;
      const forged = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'webhook-id': 'x', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': 'v1,AAAA' }, body: '{"Event":"forged"}' });
      expect(forged.status).toBe(401);
      expect(await forged.text()).toMatch(/No signature in webhook-signature matches/);
      const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(unsigned.status).toBe(401);
      expect(handled.length).toBe(count);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('the guide\'s Python, as printed and as docs/examples/verify_webhook.py, accepts a real delivery and refuses a wrong secret', async () => {
    const secret = whsec();
    const delivery = await deliveryWith(secret, 'verify.python');
    const bodyFile = path.join(tmp, 'python-body');
    fs.writeFileSync(bodyFile, delivery.body);
    const harness = `${codeBlock('python', 'def verify_superoffice')}
import json, sys
class Headers(dict):  # as web frameworks give them: any case
    def get(self, name, default=None):
        return next((v for k, v in self.items() if k.lower() == name.lower()), default)
    def __getitem__(self, name):
        return self.get(name)
headers = Headers(json.loads(sys.argv[2]))
body = open(sys.argv[1], "rb").read()
for secret in (sys.argv[3], "whsec_" + "QUJD" * 8):
    print(verify_superoffice(body, secret, headers), verify_standard_webhooks(body, secret, headers))
`;
    const printed = await run('python3', ['-c', harness, bodyFile, JSON.stringify(delivery.headers), secret]);
    expect(printed.stderr).toBe('');
    expect(printed.stdout).toBe('True True\nFalse False\n');
    const file = path.join(ROOT, 'docs', 'examples', 'verify_webhook.py');
    const example = (s: string, extra: string[] = []) => run('python3', [file, s, JSON.stringify(delivery.headers), ...extra], delivery.body);
    expect((await example(secret)).stdout).toBe('superoffice True\nstandard-webhooks True\n');
    expect((await example(whsec())).stdout).toBe('superoffice False\nstandard-webhooks False\n');
    expect((await example(secret, [String(Date.now() / 1000 + 600)])).stdout).toBe('superoffice True\nstandard-webhooks False\n'); // a replay
  });

  const mcs = spawnSync('mcs', ['--version']).status === 0 && spawnSync('mono', ['--version']).status === 0;
  // As the interop suites: skipped without Mono on a developer machine, failing under CI=true.
  (mcs || process.env.CI === 'true' ? it : it.skip)('the guide\'s C#, as printed and as docs/examples/VerifyWebhook.cs, accepts a real delivery and refuses a wrong secret (Mono)', async () => {
    const secret = whsec();
    const delivery = await deliveryWith(secret, 'verify.csharp');
    const h = delivery.headers as Record<string, string>;
    const bodyFile = path.join(tmp, 'csharp-body');
    fs.writeFileSync(bodyFile, delivery.body);
    const file = fs.readFileSync(path.join(ROOT, 'docs', 'examples', 'VerifyWebhook.cs'), 'utf8');
    // The printed methods, in a class with the file's FixedTimeEquals and Main.
    const printed = file.replace(/public static class WebhookVerifier\s*\{[\s\S]*?static bool FixedTimeEquals/, `public static class WebhookVerifier\n{\n${codeBlock('csharp', 'VerifySuperOffice')}\n    static bool FixedTimeEquals`);
    expect(printed).not.toBe(file);
    const now = String(Math.floor(Date.now() / 1000));
    for (const [name, source] of [['file', file], ['printed', printed]] as const) {
      const cs = path.join(tmp, `${name}.cs`);
      const exe = path.join(tmp, `${name}.exe`);
      fs.writeFileSync(cs, source);
      const compiled = await run('mcs', ['-nologo', `-out:${exe}`, cs]);
      expect(compiled.stdout + compiled.stderr).not.toMatch(/error/);
      const verify = async (s: string, at = now) => (await run('mono', [exe, bodyFile, s, h['x-superoffice-signature'], '-', h['webhook-id'], h['webhook-timestamp'], h['webhook-signature'], at])).stdout;
      expect({ name, out: await verify(secret) }).toEqual({ name, out: 'superoffice True\nstandard-webhooks True\n' });
      expect({ name, out: await verify(whsec()) }).toEqual({ name, out: 'superoffice False\nstandard-webhooks False\n' });
      expect({ name, out: await verify(secret, String(Number(now) + 600)) }).toEqual({ name, out: 'superoffice True\nstandard-webhooks False\n' });
    }
  }, 120_000);

  it('the TypeScript receiver of the guide (docs/examples/receiver.ts, importing webhook-agent/verify) accepts real deliveries and answers 401 to a forgery', async () => {
    const secret = whsec();
    const port = await new Promise<number>((resolve) => {
      const probe = http.createServer().listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'docs', 'examples', 'receiver.ts')], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), WEBHOOK_SECRET: secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
    try {
      const url = `http://127.0.0.1:${port}/hooks/superoffice`;
      await waitFor(`the example receiver to listen (${out})`, async () => (await fetch(url, { method: 'POST' }).then((r) => r.status).catch(() => null)) === 401 || null);
      const saved = await restCall(t, 'POST', '/Webhook', { body: JSON.stringify({ Events: ['verify.example'], TargetUrl: url, Secret: secret, State: 'Active' }) });
      expect(saved.status).toBe(201);
      expect((await restCall(t, 'POST', '/Webhook/verify.example/9')).status).toBe(204);
      await waitFor('the example to log the delivery', () => out.includes('verify.example 9 ') || null);
      // The attempt is logged when claimed and settled after the answer: wait for its result.
      const rows = await waitFor('the attempt settled', async () => {
        const found = (await t.service.db.dataSource.query(`SELECT http_status FROM delivery_attempt WHERE webhook_id = $1 AND outcome IS NOT NULL`, [saved.json.WebhookId])) as unknown[];
        return found.length > 0 ? found : null;
      });
      expect(rows).toEqual([{ http_status: 200 }]);
      const forged = await fetch(url, { method: 'POST', headers: { 'x-superoffice-signature': 'AAAA' }, body: '{}' });
      expect(forged.status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('the package export webhook-agent/verify', () => {
  it('resolves from the package (dist, typed) and needs nothing beyond Node', () => {
    const listed = spawnSync(process.execPath, ['-e', "console.log(Object.keys(require('webhook-agent/verify')).sort().join(','))"], { cwd: ROOT, encoding: 'utf8' });
    expect(listed.stderr).toBe('');
    expect(listed.stdout.trim()).toBe('DEFAULT_TOLERANCE_SECONDS,WebhookVerificationError,verifyStandardWebhooks,verifySuperOffice,verifyWebhook,webhookMiddleware');
    expect(fs.readFileSync(path.join(ROOT, 'dist', 'verify.d.ts'), 'utf8')).toContain('export declare function webhookMiddleware');
    // Every module it loads, transitively, is Node's own or part of dist.
    const loaded = spawnSync(
      process.execPath,
      ['-e', "const before = new Set(Object.keys(require.cache)); require('webhook-agent/verify'); console.log(Object.keys(require.cache).filter((f) => !before.has(f)).join('\\n'))"],
      { cwd: ROOT, encoding: 'utf8' },
    );
    const files = loaded.stdout.trim().split('\n');
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(path.relative(path.join(ROOT, 'dist'), file)).not.toMatch(/^\.\.|node_modules/);
  });
});
