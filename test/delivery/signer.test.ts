import { createHmac, randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { isStandardWebhooksSecret, signStandardWebhooks, signSuperOffice } from '../../src/outbound/signer';

const BODY = Buffer.from('{"EventId":"e1","Event":"contact.created","Name":"Ærlig 😀"}', 'utf8');

describe('signSuperOffice', () => {
  it('matches the published HMAC-SHA256 test vector, base64 encoded', () => {
    const signature = signSuperOffice('key', Buffer.from('The quick brown fox jumps over the lazy dog'));
    expect(Buffer.from(signature, 'base64').toString('hex')).toBe(
      'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    );
  });

  it('keys the HMAC with the UTF-8 bytes of the secret and signs the exact body bytes', () => {
    const secret = 'hemmelig-nøkkel-🔑';
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(BODY).digest('base64');
    expect(signSuperOffice(secret, BODY)).toBe(expected);
  });

  it('changes when one byte of the body changes', () => {
    const tampered = Buffer.from(BODY);
    tampered[tampered.length - 2] ^= 1;
    expect(signSuperOffice('s', tampered)).not.toBe(signSuperOffice('s', BODY));
  });
});

describe('isStandardWebhooksSecret', () => {
  it('accepts whsec_ followed by padded base64', () => {
    expect(isStandardWebhooksSecret('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toBe(true);
    expect(isStandardWebhooksSecret(`whsec_${randomBytes(32).toString('base64')}`)).toBe(true);
    expect(isStandardWebhooksSecret('whsec_YWI=')).toBe(true);
  });

  it('refuses plain secrets, an empty key and base64 the reference library cannot decode', () => {
    for (const secret of ['my secret', 'whsec_', 'WHSEC_YWJj', 'whsec_YWI', 'whsec_YW Jj', 'whsec_YW-_', 'xwhsec_YWJj', '']) {
      expect([secret, isStandardWebhooksSecret(secret)]).toEqual([secret, false]);
    }
    expect(isStandardWebhooksSecret(null)).toBe(false);
  });
});

describe('signStandardWebhooks', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const msgId = 'msg_3f2504e0-4f89-11d3-9a0c-0305e82c3301';

  it('produces a v1 signature that the standardwebhooks package verifies', () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signStandardWebhooks(secret, msgId, timestamp, BODY);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const verified = new Webhook(secret).verify(BODY, {
      'webhook-id': msgId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature,
    });
    expect(verified).toEqual(JSON.parse(BODY.toString('utf8')));
  });

  it('equals an independent node:crypto computation over id.timestamp.body with the base64-decoded key', () => {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from(`${msgId}.1700000000.`), BODY]))
      .digest('base64');
    expect(signStandardWebhooks(secret, msgId, 1700000000, BODY)).toBe(`v1,${expected}`);
    expect(signStandardWebhooks(secret, msgId, 1700000000, BODY)).toBe(
      new Webhook(secret).sign(msgId, new Date(1700000000 * 1000), BODY),
    );
  });

  it('is rejected by the standardwebhooks package when the body, id or timestamp differ', () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signStandardWebhooks(secret, msgId, timestamp, BODY);
    const wh = new Webhook(secret);
    const headers = { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
    expect(() => wh.verify(Buffer.from(BODY.toString('utf8') + ' '), headers)).toThrow(WebhookVerificationError);
    expect(() => wh.verify(BODY, { ...headers, 'webhook-id': 'other' })).toThrow(WebhookVerificationError);
    expect(() => wh.verify(BODY, { ...headers, 'webhook-timestamp': String(timestamp - 1) })).toThrow(
      WebhookVerificationError,
    );
  });

  it('refuses a secret without the whsec_ form and a timestamp that is not whole seconds', () => {
    expect(() => signStandardWebhooks('plain', msgId, 1700000000, BODY)).toThrow(TypeError);
    expect(() => signStandardWebhooks(secret, msgId, 1700000000.5, BODY)).toThrow(TypeError);
  });
});
