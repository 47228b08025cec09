import { createHmac, randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { buildDeliveryHeaders, isReservedHeaderName, type DeliveryHeadersInput } from '../../src/outbound/headers';

const BODY = Buffer.from('{"EventId":"e1","Event":"contact.created"}', 'utf8');
const EVENT_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';

function input(overrides: Partial<DeliveryHeadersInput> = {}): DeliveryHeadersInput {
  return {
    eventName: 'contact.created',
    eventId: EVENT_ID,
    retry: 0,
    webhookHeaders: null,
    secret: null,
    body: BODY,
    userAgent: 'webhook-agent/0.1.0',
    isTest: false,
    now: new Date(Date.UTC(2026, 10, 3, 9, 0, 0, 999)),
    ...overrides,
  };
}

describe('buildDeliveryHeaders', () => {
  it('sends the SuperOffice event headers and nothing else on an unsigned first attempt', () => {
    expect(buildDeliveryHeaders(input())).toEqual({
      'Content-Type': 'application/json; charset=utf-8',
      'User-Agent': 'webhook-agent/0.1.0',
      'X-SuperOffice-Event': 'contact.created',
      'X-SuperOffice-EventId': EVENT_ID,
      'X-SuperOffice-Retry': '0',
    });
  });

  it('counts retries so far in X-SuperOffice-Retry', () => {
    expect(buildDeliveryHeaders(input({ retry: 2 }))['X-SuperOffice-Retry']).toBe('2');
  });

  it("adds the webhook's own headers", () => {
    const headers = buildDeliveryHeaders(input({ webhookHeaders: { Authorization: 'Bearer abc', 'X-Tenant': 'eu' } }));
    expect(headers.Authorization).toBe('Bearer abc');
    expect(headers['X-Tenant']).toBe('eu');
  });

  it("never lets the webhook's headers override ours, whatever their case", () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const headers = buildDeliveryHeaders(
      input({
        secret,
        isTest: false,
        webhookHeaders: {
          'content-type': 'text/plain',
          'USER-AGENT': 'evil',
          'x-superoffice-event': 'spoofed',
          'X-SuperOffice-Signature': 'forged',
          'Webhook-Signature': 'v1,forged',
          'webhook-id': 'other',
          'Content-Length': '1',
          'Transfer-Encoding': 'chunked',
          Host: 'elsewhere',
          Connection: 'close',
          'Keep-Alive': 'timeout=5',
          Upgrade: 'websocket',
          Expect: '100-continue',
          'x-hook-test': 'true',
          'X-Kept': 'yes',
        },
      }),
    );
    const lowerNames = Object.keys(headers).map((name) => name.toLowerCase());
    expect(new Set(lowerNames).size).toBe(lowerNames.length);
    expect(lowerNames).not.toContain('content-length');
    expect(lowerNames).not.toContain('transfer-encoding');
    expect(lowerNames).not.toContain('host');
    expect(lowerNames).not.toContain('connection');
    expect(lowerNames).not.toContain('keep-alive');
    expect(lowerNames).not.toContain('upgrade');
    expect(lowerNames).not.toContain('expect');
    expect(lowerNames).not.toContain('x-hook-test');
    expect(headers['Content-Type']).toBe('application/json; charset=utf-8');
    expect(headers['User-Agent']).toBe('webhook-agent/0.1.0');
    expect(headers['X-SuperOffice-Event']).toBe('contact.created');
    expect(headers['webhook-id']).toBe(EVENT_ID);
    expect(headers['X-SuperOffice-Signature']).not.toBe('forged');
    expect(headers['X-Kept']).toBe('yes');
  });

  it('marks a verification request with X-Hook-Test: true, and only that one', () => {
    expect(buildDeliveryHeaders(input({ isTest: true }))['X-Hook-Test']).toBe('true');
    expect(buildDeliveryHeaders(input({ isTest: false }))).not.toHaveProperty('X-Hook-Test');
  });

  it('signs with X-SuperOffice-Signature over the body for a plain secret, without Standard Webhooks headers', () => {
    const headers = buildDeliveryHeaders(input({ secret: 'plain secret' }));
    expect(headers['X-SuperOffice-Signature']).toBe(
      createHmac('sha256', Buffer.from('plain secret', 'utf8')).update(BODY).digest('base64'),
    );
    expect(Object.keys(headers).filter((name) => name.startsWith('webhook-'))).toEqual([]);
  });

  it('treats a null or empty Secret as unsigned', () => {
    for (const secret of [null, '']) {
      const names = Object.keys(buildDeliveryHeaders(input({ secret })));
      expect(names).not.toContain('X-SuperOffice-Signature');
      expect(names.filter((name) => name.startsWith('webhook-'))).toEqual([]);
    }
  });

  it('adds webhook-id, webhook-timestamp and webhook-signature for a whsec_ secret, verifiable by standardwebhooks', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const now = new Date();
    const headers = buildDeliveryHeaders(input({ secret, now }));
    expect(headers['webhook-id']).toBe(EVENT_ID);
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(headers['X-SuperOffice-Signature']).toBe(
      createHmac('sha256', Buffer.from(secret, 'utf8')).update(BODY).digest('base64'),
    );
    expect(() => new Webhook(secret).verify(BODY, headers)).not.toThrow();
  });

  it('writes webhook-timestamp as whole unix seconds of now', () => {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    expect(buildDeliveryHeaders(input({ secret }))['webhook-timestamp']).toBe(String(Date.UTC(2026, 10, 3, 9) / 1000));
  });
});

describe('isReservedHeaderName', () => {
  it('reserves the framing headers and our own names, case-insensitively', () => {
    for (const name of ['Host', 'content-length', 'Content-Type', 'TRANSFER-ENCODING', 'Connection', 'User-Agent',
      'X-Hook-Test', 'X-SuperOffice-Anything', 'webhook-id', 'Webhook-Whatever']) {
      expect([name, isReservedHeaderName(name)]).toEqual([name, true]);
    }
    for (const name of ['Authorization', 'X-Tenant', 'X-Super', 'webhooks']) {
      expect([name, isReservedHeaderName(name)]).toEqual([name, false]);
    }
  });
});
