import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { badRequest, HttpError } from './errors';
import { mayHoldUnsafeIntegers, parseExact } from './exactJson';

/**
 * JSON request bodies: the content type is checked first (415 names the accepted ones), then
 * express.json parses with the size limit (413) and JSON.parse (malformed -> 400). JSON.parse
 * keeps `__proto__` as an own data member, and the mappers only read members with
 * Object.entries, so such keys never reach a prototype.
 */

export interface BodyOptions {
  limit: number;
  /** Media types accepted, e.g. ['application/json']. */
  types: string[];
  /** A request without a body is allowed (req.body stays undefined), and so is a body of any JSON value (null too). */
  optional?: boolean;
  /** The header that advertises the accepted types on 415 (Accept-Patch for PATCH). */
  acceptHeader?: 'Accept' | 'Accept-Patch';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Set on a request whose body has an integer literal JSON.parse would round: parsed again exactly. */
const EXACT_SOURCE = Symbol('exactSource');

/** body-parser decodes invalid UTF-8 to U+FFFD silently; such a body is refused instead. */
function requireUtf8(req: unknown, _res: unknown, body: Buffer): void {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw Object.assign(new Error('The request body is not valid UTF-8.'), { type: 'encoding.invalid.utf8', status: 400 });
  }
  if (mayHoldUnsafeIntegers(text)) (req as Record<symbol, string>)[EXACT_SOURCE] = text;
}

export function jsonBody(options: BodyOptions): RequestHandler {
  // An optional body may be JSON `null` (NetServer's clients post null for "no arguments"): only
  // those routes parse non-strictly, and check the value's shape themselves.
  const parse = express.json({ limit: options.limit, type: () => true, strict: !options.optional, verify: requireUtf8 });
  return (req: Request, res: Response, next: NextFunction) => {
    // No body: neither Content-Length nor Transfer-Encoding, or an empty one (fetch sends Content-Length: 0).
    const matched = req.headers['content-length'] === '0' ? null : req.is(options.types);
    if (matched === null) {
      req.body = undefined;
      if (options.optional) return next();
      return next(badRequest(`The request needs a JSON body (Content-Type: ${options.types[0]}).`));
    }
    if (matched === false) {
      const header = options.acceptHeader ?? 'Accept';
      return next(
        new HttpError(415, 'UnsupportedMediaType', `The body must be sent as ${options.types.join(' or ')}, not ${JSON.stringify(req.headers['content-type'] ?? 'no content type')}.`, null, {
          [header]: options.types.join(', '),
        }),
      );
    }
    parse(req, res, (error?: unknown) => {
      const exactSource = (req as unknown as Record<symbol, string | undefined>)[EXACT_SOURCE];
      if (!error && exactSource !== undefined) req.body = parseExact(exactSource);
      next(error);
    });
  };
}
