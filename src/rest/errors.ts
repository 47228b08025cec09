import type { NextFunction, Request, Response } from 'express';
import { CoreError, DatabaseUnavailableError, RateLimitedError, ValidationError } from '../core/errors';
import { databaseUnavailable, outageLog } from '../db/transientErrors';
import type { Logger } from '../logger';

/**
 * The REST door's one error shape and its one translation of core errors to HTTP statuses
 * (the SOAP door's counterpart is soap/faults.ts). Messages are the core's, written for the caller.
 */

export interface RestErrorBody {
  Error: true;
  ErrorType: string;
  Message: string;
  Field?: string;
}

/** A caller-facing error raised by the REST door itself (bad JSON shape, wrong content type, ...). */
export class HttpError extends Error {
  constructor(
    public readonly status: number,
    public readonly errorType: string,
    message: string,
    public readonly field: string | null = null,
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, field: string | null = null) => new HttpError(400, 'BadRequest', message, field);

const CORE_STATUS: Record<CoreError['kind'], number> = {
  validation: 400,
  // The target answered something other than 200: the caller's receiver is at fault, not us.
  verification_failed: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  not_implemented: 501,
  rate_limited: 429,
  unavailable: 503,
};

const GENERIC_SERVER_MESSAGE = 'The service failed to process the request because of an internal error. It has been logged; try again, and contact the operator if it persists.';

/** body-parser's error types (express.json) as the caller's mistakes. */
function fromBodyParser(error: { type?: string; status?: number; limit?: number }): HttpError | null {
  switch (error.type) {
    case 'entity.too.large':
      return new HttpError(413, 'PayloadTooLarge', `The request body is larger than the limit of ${error.limit} bytes (BODY_LIMIT).`);
    case 'entity.parse.failed':
      return new HttpError(400, 'MalformedJson', 'The request body is not valid JSON (an object or array is expected): check quotes, commas and brackets.');
    case 'encoding.invalid.utf8':
      return new HttpError(400, 'InvalidUtf8', 'The request body is not valid UTF-8: encode the JSON as UTF-8.');
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new HttpError(415, 'UnsupportedMediaType', 'The request body must be JSON in UTF-8 (charset=utf-8), without content encoding other than gzip/deflate/br.');
    default:
      if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
        return new HttpError(400, 'BadRequest', 'The request body could not be read; send it again as JSON in UTF-8.');
      }
      return null;
  }
}

export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  error = databaseUnavailable(error) ?? error;
  if (error instanceof CoreError) {
    const headers: Record<string, string> = error instanceof RateLimitedError || error instanceof DatabaseUnavailableError ? { 'Retry-After': String(error.retryAfterSeconds) } : {};
    return new HttpError(CORE_STATUS[error.kind] ?? 500, error.name, error.message, error instanceof ValidationError ? error.field : null, headers);
  }
  if (error && typeof error === 'object' && 'type' in error) {
    const parsed = fromBodyParser(error as { type?: string; status?: number; limit?: number });
    if (parsed) return parsed;
  }
  return new HttpError(500, 'InternalError', GENERIC_SERVER_MESSAGE);
}

export function sendError(res: Response, error: HttpError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body: RestErrorBody = { Error: true, ErrorType: error.errorType, Message: error.message };
  if (error.field) body.Field = error.field;
  res.status(error.status).set(error.headers).json(body);
}

/** The router's error handler: every failure leaves as the one JSON shape; our own faults are logged, never shown. */
export function restErrorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const httpError = toHttpError(error);
    if (httpError.errorType === 'DatabaseUnavailableError') outageLog.report(logger, error, 'rest');
    else if (httpError.status >= 500) logger.error({ err: error, method: req.method, path: req.path }, 'REST request failed');
    sendError(res, httpError);
  };
}
