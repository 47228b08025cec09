/**
 * The receivers' toolkit, `require('webhook-agent/verify')` (docs/receiving.md): verifies that a
 * delivery came from webhook-agent and was not changed, by either signature scheme, and an
 * express-style middleware that does it before a handler runs. Node's standard library only:
 * a receiver installs nothing else, and this file imports nothing but the signer.
 */
import { timingSafeEqual } from 'node:crypto';
import { isStandardWebhooksSecret, signStandardWebhooks, signSuperOffice } from './outbound/signer';

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** Node's req.headers, a fetch Headers, or any object of header names (any case) to values. */
export type HeaderSource = { get(name: string): string | null } | Record<string, string | string[] | undefined>;

/** Standard Webhooks' default: a delivery signed more than 5 minutes before (or after) now is a replay. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

export interface VerifyOptions {
  /** How far webhook-timestamp may be from now (Standard Webhooks only); default 300 seconds. */
  toleranceSeconds?: number;
  /** The time to check against; default now. */
  now?: Date;
}

export type Scheme = 'standard-webhooks' | 'superoffice';

function header(headers: HeaderSource, name: string): string | null {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name);
  const record = headers as Record<string, string | string[] | undefined>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name.toLowerCase());
  const value = key === undefined ? undefined : record[key];
  return Array.isArray(value) ? value.join(', ') : (value ?? null);
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}

const bytes = (body: Buffer | string): Buffer => (typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
const list = (secrets: string | readonly string[]): readonly string[] => (typeof secrets === 'string' ? [secrets] : secrets);

/**
 * X-SuperOffice-Signature = base64(HMAC-SHA256(UTF-8 secret, raw body)). During a Secret
 * rotation's overlap the previous Secret's signature comes in X-SuperOffice-Signature-Previous:
 * either header matching one of `secrets` passes. This scheme signs no time: de-duplicate by
 * X-SuperOffice-EventId, or use a whsec_ Secret (Standard Webhooks) to refuse replays.
 */
export function verifySuperOffice(body: Buffer | string, secrets: string | readonly string[], headers: HeaderSource): void {
  const sent = [header(headers, 'X-SuperOffice-Signature'), header(headers, 'X-SuperOffice-Signature-Previous')].filter((s): s is string => !!s);
  if (sent.length === 0) throw new WebhookVerificationError('The request has no X-SuperOffice-Signature header.');
  for (const secret of list(secrets)) {
    const expected = signSuperOffice(secret, bytes(body));
    if (sent.some((signature) => sameText(signature.trim(), expected))) return;
  }
  throw new WebhookVerificationError('X-SuperOffice-Signature does not match the body: another secret, or a changed body.');
}

/**
 * Standard Webhooks (https://www.standardwebhooks.com): webhook-signature holds one or more
 * space-separated `v1,<base64>` signatures of `{webhook-id}.{webhook-timestamp}.{body}`, keyed
 * with the base64 after `whsec_`; webhook-timestamp must be within the tolerance of now.
 */
export function verifyStandardWebhooks(body: Buffer | string, secrets: string | readonly string[], headers: HeaderSource, options: VerifyOptions = {}): void {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !timestamp || !signatures) throw new WebhookVerificationError('The request lacks webhook-id, webhook-timestamp or webhook-signature.');
  if (!/^\d{1,15}$/.test(timestamp.trim())) throw new WebhookVerificationError('webhook-timestamp is not whole seconds since 1970.');
  const seconds = Number(timestamp.trim());
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - seconds) > tolerance) {
    throw new WebhookVerificationError(`webhook-timestamp is ${now - seconds} seconds from now, beyond the ${tolerance}-second tolerance: refused as a possible replay.`);
  }
  const sent = signatures.split(' ').map((s) => s.trim()).filter((s) => s.startsWith('v1,'));
  for (const secret of list(secrets)) {
    if (!isStandardWebhooksSecret(secret)) throw new WebhookVerificationError('A Standard Webhooks secret is whsec_ followed by base64.');
    const expected = signStandardWebhooks(secret, id, seconds, bytes(body));
    if (sent.some((signature) => sameText(signature, expected))) return;
  }
  throw new WebhookVerificationError('No signature in webhook-signature matches: another secret, or a changed body.');
}

/**
 * Verifies by the best scheme the secret and request allow: Standard Webhooks when the secret is
 * `whsec_...` and the request carries webhook-signature (so replays are refused), otherwise
 * X-SuperOffice-Signature. Throws WebhookVerificationError; returns the scheme that passed.
 */
export function verifyWebhook(body: Buffer | string, secrets: string | readonly string[], headers: HeaderSource, options: VerifyOptions = {}): Scheme {
  const standardSecrets = list(secrets).filter((s) => isStandardWebhooksSecret(s));
  if (standardSecrets.length > 0 && header(headers, 'webhook-signature')) {
    try {
      verifyStandardWebhooks(body, standardSecrets, headers, options);
      return 'standard-webhooks';
    } catch (error) {
      // A receiver holding a whsec_ and a plain secret (mid-rotation) may pass the other scheme.
      if (standardSecrets.length === list(secrets).length) throw error;
    }
  }
  verifySuperOffice(body, secrets, headers);
  return 'superoffice';
}

/** The parts of an express (or plain Node) request and response the middleware uses. */
export interface MiddlewareRequest extends NodeJS.ReadableStream {
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  rawBody?: Buffer;
}
export interface MiddlewareResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export interface MiddlewareOptions extends VerifyOptions {
  /** The webhook's Secret, or several while you switch (old and new). */
  secret: string | readonly string[];
  /** The largest body read (bytes); default 1 MiB. */
  limit?: number;
}

/**
 * Express middleware: reads the raw body (or takes the Buffer of an express.raw() before it),
 * verifies it, then sets req.rawBody (the bytes) and req.body (the parsed JSON) and calls
 * next(). A bad or missing signature answers 401 with a one-line reason and never reaches the
 * handler. Mount it before any JSON body parser: once parsed, the exact bytes are gone.
 */
export function webhookMiddleware(options: MiddlewareOptions) {
  const limit = options.limit ?? 1024 * 1024;
  return (req: MiddlewareRequest, res: MiddlewareResponse, next: (error?: unknown) => void): void => {
    const refuse = (status: number, reason: string) => {
      res.statusCode = status;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.end(reason);
    };
    const check = (raw: Buffer) => {
      try {
        verifyWebhook(raw, options.secret, req.headers, options);
      } catch (error) {
        if (error instanceof WebhookVerificationError) return refuse(401, error.message);
        return next(error);
      }
      req.rawBody = raw;
      try {
        req.body = JSON.parse(raw.toString('utf8'));
      } catch {
        return refuse(400, 'The body is not JSON.');
      }
      next();
    };
    if (Buffer.isBuffer(req.body)) return check(req.body);
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer | string) => {
      if (done) return;
      const piece = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      size += piece.length;
      if (size > limit) {
        done = true;
        refuse(413, `The body is larger than ${limit} bytes.`);
        return;
      }
      chunks.push(piece);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        check(Buffer.concat(chunks));
      }
    });
    req.on('error', (error: unknown) => {
      if (!done) {
        done = true;
        next(error);
      }
    });
  };
}
