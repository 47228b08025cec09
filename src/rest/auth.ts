import type { NextFunction, Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { identifyCaller, type CallerContext } from '../core/caller';
import { UnauthorizedError } from '../core/errors';
import { ticketFromAuthorization } from '../core/operations';
import type { RequestRateLimiter } from '../core/rateLimit';
import { HttpError } from './errors';

/**
 * Tickets as the SOAP door takes them from HTTP: `Authorization: Bearer <ticket>` or
 * `Authorization: SOTicket <ticket>` (NetServer's scheme); the application from `SO-AppToken`
 * (NetServer's REST header for the ApplicationToken). The caller is kept in res.locals.
 */

const challenge = (error: string) => `Bearer realm="webhook-agent"${error}, SOTicket realm="webhook-agent"`;

export { ticketFromAuthorization };

export function requireTicket(ds: DataSource, rateLimiter: RequestRateLimiter) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    try {
      const appToken = req.headers['so-apptoken'];
      res.locals.caller = await identifyCaller(ds, rateLimiter, ticketFromAuthorization(req.headers.authorization), typeof appToken === 'string' ? appToken : null);
      next();
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) return next(error);
      const sent = req.headers.authorization !== undefined;
      // RFC 6750: a sent but rejected token is invalid_token; a missing one gets the bare challenge.
      next(new HttpError(401, error.name, error.message, null, { 'WWW-Authenticate': challenge(sent ? ', error="invalid_token"' : '') }));
    }
  };
}

export function callerOf(res: Response): CallerContext {
  return res.locals.caller as CallerContext;
}
