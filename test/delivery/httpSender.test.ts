import { createHmac, randomBytes } from 'node:crypto';
import * as dns from 'node:dns';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { buildDeliveryHeaders } from '../../src/outbound/headers';
import { buildPayload, serializePayload } from '../../src/outbound/payload';
import { describeResult, sendWebhook, type SendRequest } from '../../src/outbound/httpSender';
import { createSenderAgent } from '../../src/outbound/senderAgent';
import { closedPort, startReceiver, type Receiver } from '../support/receiver';

const BODY = Buffer.from('{"EventId":"e1","Event":"contact.created","Name":"Ærlig 😀"}', 'utf8');
const HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'X-SuperOffice-Event': 'contact.created' };

const receivers: Receiver[] = [];
async function receiver(handler: Parameters<typeof startReceiver>[0], tls?: https.ServerOptions): Promise<Receiver> {
  const r = await startReceiver(handler, tls);
  receivers.push(r);
  return r;
}
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function request(url: string, overrides: Partial<SendRequest> = {}): SendRequest {
  return { url, headers: HEADERS, body: BODY, timeoutMs: 5000, ...overrides };
}

describe('sendWebhook', () => {
  it('reports a 200 as success with its status line, headers, body and latency', async () => {
    const target = await receiver((_req, res) => {
      res.setHeader('X-Receiver', 'yes');
      res.end('thanks');
    });
    const result = await sendWebhook(request(target.url));
    expect(result).toMatchObject({
      ok: true,
      status: 200,
      statusLine: 'HTTP/1.1 200 OK',
      responseBody: 'thanks',
      responseTruncated: false,
      error: null,
    });
    expect(result.responseHeaders['x-receiver']).toBe('yes');
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.latencyMs).toBeLessThan(5000);
    expect(target.requests).toHaveLength(1);
    expect(target.requests[0].method).toBe('POST');
  });

  it('reports a 204 No Content as success', async () => {
    const target = await receiver((_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    const result = await sendWebhook(request(target.url));
    expect(result).toMatchObject({ ok: true, status: 204, statusLine: 'HTTP/1.1 204 No Content', responseBody: '' });
  });

  it('reports a 500 as a failure, keeping the status line and response body', async () => {
    const target = await receiver((_req, res) => {
      res.statusCode = 500;
      res.end('database down');
    });
    const result = await sendWebhook(request(target.url));
    expect(result).toMatchObject({
      ok: false,
      status: 500,
      statusLine: 'HTTP/1.1 500 Internal Server Error',
      responseBody: 'database down',
      error: null,
    });
  });

  it('does not follow a 301 and reports it as a failure', async () => {
    const redirectTarget = await receiver((_req, res) => res.end('should never be reached'));
    const target = await receiver((_req, res) => {
      res.writeHead(301, { Location: redirectTarget.url });
      res.end();
    });
    const result = await sendWebhook(request(target.url));
    expect(result).toMatchObject({ ok: false, status: 301, statusLine: 'HTTP/1.1 301 Moved Permanently', error: null });
    expect(result.responseHeaders.location).toBe(redirectTarget.url);
    expect(target.requests).toHaveLength(1);
    expect(redirectTarget.requests).toHaveLength(0);
  });

  it('gives up on a receiver that never answers after timeoutMs, closing the connection', async () => {
    let receiverSawClose = false;
    const target = await receiver((_req, res) => {
      res.on('close', () => (receiverSawClose = true));
    });
    const result = await sendWebhook(request(target.url, { timeoutMs: 300 }));
    expect(result.ok).toBe(false);
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/^timed out after 300 ms \(waiting for the response\)$/);
    expect(result.latencyMs).toBeGreaterThanOrEqual(290);
    expect(result.latencyMs).toBeLessThan(2000);
    await waitFor(() => receiverSawClose);
  });

  it('counts the response body in the timeout: a 200 whose body stalls is a failure', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('partial');
    });
    const result = await sendWebhook(request(target.url, { timeoutMs: 300 }));
    expect(result).toMatchObject({ ok: false, status: 200, responseBody: 'partial' });
    expect(result.error).toBe('timed out after 300 ms (reading the response body)');
  });

  it('reports a refused connection as a readable error', async () => {
    const port = await closedPort();
    const result = await sendWebhook(request(`http://127.0.0.1:${port}/hook`));
    expect(result).toMatchObject({ ok: false, status: null, statusLine: null, responseBody: '' });
    expect(result.error).toBe(`connection refused (ECONNREFUSED 127.0.0.1:${port})`);
    expect(describeResult(result)).toBe(result.error);
  });

  it('reports a receiver that drops the connection mid-response as a failure', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('partial', () => res.socket?.destroy());
    });
    const result = await sendWebhook(request(target.url));
    expect(result.ok).toBe(false);
    expect(result.status).toBe(200);
    expect(result.error).toMatch(/while reading the response body$/);
  });

  it('reads at most maxResponseBytes of a huge response and stops reading', async () => {
    const total = 64 * 1024 * 1024;
    let receiverFinished = false;
    let receiverClosed = false;
    const target = await receiver((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': String(total) });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      const pump = (): void => {
        while (sent < total && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (sent >= total) res.end();
      };
      res.on('finish', () => (receiverFinished = true));
      res.on('close', () => (receiverClosed = true));
      pump();
    });
    const result = await sendWebhook(request(target.url));
    expect(result).toMatchObject({ ok: true, status: 200, responseTruncated: true, error: null });
    expect(Buffer.byteLength(result.responseBody)).toBe(4096);
    expect(result.responseBody).toBe('x'.repeat(4096));
    await waitFor(() => receiverClosed);
    expect(receiverFinished).toBe(false);
    expect(describeResult(result)).toMatch(/x\.\.\. \(truncated\)$/);
  });

  it('cuts a truncated body at a character boundary', async () => {
    const target = await receiver((_req, res) => res.end('ééé')); // 2 bytes each
    const result = await sendWebhook(request(target.url, { maxResponseBytes: 5 }));
    expect(result.responseBody).toBe('éé');
    expect(result.responseTruncated).toBe(true);
  });

  it('delivers the exact body bytes and headers, with our Content-Length', async () => {
    const target = await receiver((_req, res) => res.end());
    const body = serializePayload(
      buildPayload({
        eventId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
        timestamp: new Date(),
        eventName: 'contact.created',
        primaryKey: 42,
        data: { name: 'Søren 😀', when: new Date(Date.UTC(2026, 0, 1)) },
        contextIdentifier: 'Cust1',
        changedByAssociateId: 5,
        webhookName: 'hook',
        properties: { region: 'eu' },
      }),
    );
    const headers = buildDeliveryHeaders({
      eventName: 'contact.created',
      eventId: '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
      retry: 1,
      webhookHeaders: { Authorization: 'Bearer abc', 'Content-Length': '3' },
      secret: null,
      body,
      userAgent: 'webhook-agent/0.1.0',
      isTest: true,
      now: new Date(),
    });
    const result = await sendWebhook(request(target.url, { headers: { ...headers, 'content-length': '3' }, body }));
    expect(result.ok).toBe(true);
    const received = target.requests[0];
    expect(received.body.equals(body)).toBe(true);
    expect(received.url).toBe('/hook');
    expect(received.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(body.length),
      'user-agent': 'webhook-agent/0.1.0',
      'x-superoffice-event': 'contact.created',
      'x-superoffice-eventid': '3f2504e0-4f89-11d3-9a0c-0305e82c3301',
      'x-superoffice-retry': '1',
      'x-hook-test': 'true',
      authorization: 'Bearer abc',
    });
    expect(received.headers['transfer-encoding']).toBeUndefined();
  });

  it('sends signatures the receiver verifies over the bytes it received', async () => {
    const plainSecret = 'plain secret ø';
    const whsec = `whsec_${randomBytes(24).toString('base64')}`;
    const target = await receiver((req, res) => {
      const secret = req.url === '/plain' ? plainSecret : whsec;
      const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(req.body).digest('base64');
      let valid = req.headers['x-superoffice-signature'] === expected;
      if (req.url === '/standard') {
        try {
          new Webhook(whsec).verify(req.body, req.headers as Record<string, string>);
        } catch {
          valid = false;
        }
      }
      res.statusCode = valid ? 200 : 401;
      res.end(valid ? 'verified' : 'bad signature');
    });
    for (const [route, secret] of [['/plain', plainSecret], ['/standard', whsec]] as const) {
      const headers = buildDeliveryHeaders({
        eventName: 'contact.created', eventId: 'e1', retry: 0, webhookHeaders: null, secret, body: BODY,
        userAgent: 'webhook-agent/0.1.0', isTest: false, now: new Date(),
      });
      const result = await sendWebhook(request(`http://127.0.0.1:${target.port}${route}`, { headers }));
      expect([route, result.status, result.responseBody]).toEqual([route, 200, 'verified']);
    }
    const tampered = buildDeliveryHeaders({
      eventName: 'contact.created', eventId: 'e1', retry: 0, webhookHeaders: null, secret: plainSecret,
      body: Buffer.from('{}'), userAgent: 'webhook-agent/0.1.0', isTest: false, now: new Date(),
    });
    const rejected = await sendWebhook(request(`http://127.0.0.1:${target.port}/plain`, { headers: tampered }));
    expect(rejected.status).toBe(401);
  });

  it('resolves host names through the lookup hook', async () => {
    const target = await receiver((_req, res) => res.end('ok'));
    const looked: string[] = [];
    const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      looked.push(hostname);
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    }) as unknown as net.LookupFunction;
    const result = await sendWebhook(request(`http://receiver.example.test:${target.port}/hook`, { lookup }));
    expect(result.ok).toBe(true);
    expect(looked).toEqual(['receiver.example.test']);
    expect(target.requests[0].headers.host).toBe(`receiver.example.test:${target.port}`);
  });

  it('reports an address refused by the lookup hook as a failure without sending', async () => {
    const target = await receiver((_req, res) => res.end('ok'));
    const lookup = ((_hostname: string, _options: unknown, callback: (err: Error) => void) => {
      callback(Object.assign(new Error('address 127.0.0.1 is not allowed'), { code: 'EADDRBLOCKED' }));
    }) as unknown as net.LookupFunction;
    const result = await sendWebhook(request(`http://blocked.example.test:${target.port}/hook`, { lookup }));
    expect(result).toMatchObject({ ok: false, status: null, error: 'address 127.0.0.1 is not allowed' });
    expect(target.requests).toHaveLength(0);
  });

  it('reuses connections through a keep-alive agent passed in', async () => {
    const target = await receiver((_req, res) => res.end('ok'));
    const agent = createSenderAgent({ connections: 1 });
    try {
      const first = await sendWebhook(request(target.url), agent);
      const second = await sendWebhook(request(target.url), agent);
      expect([first.ok, second.ok]).toEqual([true, true]);
      expect(target.requests[1].remotePort).toBe(target.requests[0].remotePort);
      expect(target.requests[0].headers.connection).toBe('keep-alive');
    } finally {
      await agent.destroy();
    }
  });

  it('without an agent, sends on a fresh connection with Connection: close and leaves it closed', async () => {
    const sockets: net.Socket[] = [];
    const target = await receiver((_req, res) => {
      sockets.push(res.socket!);
      res.end('ok');
    });
    const first = await sendWebhook(request(target.url));
    const second = await sendWebhook(request(target.url));
    expect([first.ok, second.ok]).toEqual([true, true]);
    expect(target.requests.map((r) => r.headers.connection)).toEqual(['close', 'close']);
    expect(target.requests[1].remotePort).not.toBe(target.requests[0].remotePort);
    await waitFor(() => sockets.every((socket) => socket.destroyed));
  });

  it("runs the agent's lookup hook on every new connection, and refuses a lookup given to a pooled send", async () => {
    // Connection: close, so each send needs a new connection of the pool.
    const target = await receiver((_req, res) => res.writeHead(200, { connection: 'close' }).end('ok'));
    const looked: string[] = [];
    const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
      looked.push(hostname);
      if (looked.length > 2) return callback(Object.assign(new Error(`${hostname} now resolves to a refused address`), { code: 'EADDRBLOCKED' }));
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    }) as unknown as net.LookupFunction;
    const agent = createSenderAgent({ lookup, connections: 4 });
    try {
      const url = `http://receiver.example.test:${target.port}/hook`;
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await sendWebhook(request(url), agent));
      expect(results.map((r) => [r.status, r.error])).toEqual([
        [200, null],
        [200, null],
        [null, 'receiver.example.test now resolves to a refused address'],
      ]);
      expect(looked).toEqual(['receiver.example.test', 'receiver.example.test', 'receiver.example.test']);
      expect(target.requests).toHaveLength(2);

      const both = await sendWebhook(request(url, { lookup }), agent);
      expect(both).toMatchObject({ ok: false, status: null });
      expect(both.error).toMatch(/lookup hook belongs to the dispatcher/);
      expect(target.requests).toHaveLength(2);
    } finally {
      await agent.destroy();
    }
  });

  it('gives up on a send still waiting for a connection, and never sends it later', async () => {
    let release: () => void = () => undefined;
    const target = await receiver((req, res) => {
      if (req.url === '/slow') release = () => res.end('slow');
      else res.end('ok');
    });
    const agent = createSenderAgent({ connections: 1 });
    try {
      const slow = sendWebhook(request(`http://127.0.0.1:${target.port}/slow`), agent);
      await waitFor(() => target.requests.length === 1);
      // The pool's one connection is busy: this send waits for it, and times out waiting.
      const queued = await sendWebhook(request(`http://127.0.0.1:${target.port}/queued`, { timeoutMs: 200 }), agent);
      expect(queued).toMatchObject({ ok: false, status: null, error: 'timed out after 200 ms (connecting)' });
      release();
      expect(await slow).toMatchObject({ ok: true, responseBody: 'slow' });
      const after = await sendWebhook(request(target.url), agent);
      expect(after.ok).toBe(true);
      expect(target.requests.map((r) => r.url)).toEqual(['/slow', '/hook']);
    } finally {
      await agent.destroy();
    }
  });

  it('reports a receiver that closes the connection without answering as a reset', async () => {
    const target = await receiver((_req, res) => res.socket?.end());
    const result = await sendWebhook(request(target.url));
    expect(result).toMatchObject({ ok: false, status: null, statusLine: null });
    expect(result.error).toMatch(/^connection reset \(/);
  });

  it('gives response headers as node does: lower-cased, set-cookie an array, other repeats joined or first kept', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(200, [
        ['X-Multi', 'a'],
        ['X-Multi', 'b'],
        ['Set-Cookie', 'one=1'],
        ['Content-Type', 'text/plain'],
        ['Content-Type', 'text/html'],
        ['Cache-Control', 'no-store'],
      ].flat());
      res.end('ok');
    });
    const result = await sendWebhook(request(target.url));
    expect(result.responseHeaders).toMatchObject({
      'x-multi': 'a, b',
      'set-cookie': ['one=1'],
      'content-type': 'text/plain',
      'cache-control': 'no-store',
    });
  });

  it('leaves out hop-by-hop headers the connection owns, which undici would refuse', async () => {
    const target = await receiver((_req, res) => res.end('ok'));
    const headers = { ...HEADERS, Expect: '100-continue', 'Keep-Alive': 'timeout=5', Upgrade: 'h2c', Connection: 'upgrade', 'X-Kept': 'yes' };
    const result = await sendWebhook(request(target.url, { headers }));
    expect(result).toMatchObject({ ok: true, error: null });
    const received = target.requests[0].headers;
    expect([received.expect, received['keep-alive'], received.upgrade, received['x-kept']]).toEqual([undefined, undefined, undefined, 'yes']);
    expect(received.connection).toBe('close');
  });

  describe('over https', () => {
    const fixtures = path.join(__dirname, 'fixtures');
    const cert = readFileSync(path.join(fixtures, 'localhost-cert.pem'));
    const key = readFileSync(path.join(fixtures, 'localhost-key.pem'));

    it('delivers to an https target through an agent that trusts its certificate', async () => {
      const target = await receiver((_req, res) => res.end('secure'), { cert, key });
      const agent = createSenderAgent({ ca: cert });
      try {
        const result = await sendWebhook(request(target.url), agent);
        expect(result).toMatchObject({ ok: true, status: 200, responseBody: 'secure' });
        expect(target.requests[0].body.equals(BODY)).toBe(true);
      } finally {
        await agent.destroy();
      }
    });

    it('refuses a certificate it cannot verify, sending nothing', async () => {
      const target = await receiver((_req, res) => res.end('secure'), { cert, key });
      const result = await sendWebhook(request(target.url));
      expect(result).toMatchObject({ ok: false, status: null });
      expect(result.error).toMatch(/^TLS certificate is self-signed/);
      expect(target.requests).toHaveLength(0);
    });

    it("through the lookup hook, sends the URL's host name as SNI and checks the certificate against it", async () => {
      const serverNames: string[] = [];
      const target = await receiver((_req, res) => res.end('secure'), {
        cert,
        key,
        SNICallback: (servername, done) => {
          serverNames.push(servername);
          done(null, undefined);
        },
      });
      const lookup = ((_hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
        if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
        else callback(null, '127.0.0.1', 4);
      }) as unknown as net.LookupFunction;
      const agent = createSenderAgent({ ca: cert, lookup });
      try {
        const named = await sendWebhook(request(`https://localhost:${target.port}/hook`), agent);
        expect(named).toMatchObject({ ok: true, responseBody: 'secure' });
        const other = await sendWebhook(request(`https://receiver.example.test:${target.port}/hook`), agent);
        expect(other).toMatchObject({ ok: false, status: null });
        expect(other.error).toMatch(/^TLS certificate does not match the host/);
        expect(serverNames).toEqual(['localhost', 'receiver.example.test']);
        expect(target.requests).toHaveLength(1);
      } finally {
        await agent.destroy();
      }
    });
  });

  it('returns a failure instead of throwing for unusable URLs and headers', async () => {
    const target = await receiver((_req, res) => res.end('ok'));
    const results = await Promise.all([
      sendWebhook(request('not a url')),
      sendWebhook(request('ftp://127.0.0.1/hook')),
      sendWebhook(request(target.url, { headers: { 'X-Bad': 'a\r\nInjected: yes' } })),
      sendWebhook(request(target.url, { headers: { 'Bad Name': 'x' } })),
    ]);
    expect(results.map((r) => [r.ok, r.status])).toEqual([[false, null], [false, null], [false, null], [false, null]]);
    expect(results[0].error).toMatch(/^invalid URL/);
    expect(results[1].error).toBe("unsupported URL scheme 'ftp:' (only http: and https:)");
    expect(results[2].error).toMatch(/^invalid header/);
    expect(results[3].error).toMatch(/^invalid header name/);
    expect(target.requests).toHaveLength(0);
  });
});

describe('describeResult', () => {
  it('shows the status line, headers and body of a response', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(503, 'Service Unavailable', { 'Retry-After': '30', 'Content-Type': 'text/plain' });
      res.end('try later');
    });
    const text = describeResult(await sendWebhook(request(target.url)));
    expect(text.split('\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(text).toContain('\nretry-after: 30\n');
    expect(text).toContain('\ncontent-type: text/plain\n');
    expect(text.endsWith('\n\ntry later')).toBe(true);
  });

  it('leads with the error when a response was cut short', () => {
    const text = describeResult({
      ok: false, status: 200, statusLine: 'HTTP/1.1 200 OK', responseHeaders: { 'set-cookie': ['a=1', 'b=2'] },
      responseBody: 'part', responseTruncated: false, error: 'timed out after 300 ms (reading the response body)',
      latencyMs: 300,
    });
    expect(text).toBe(
      'timed out after 300 ms (reading the response body)\nHTTP/1.1 200 OK\nset-cookie: a=1\nset-cookie: b=2\n\npart',
    );
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
