import type { NextFunction, Request, Response } from 'express';
import type { DataSource } from 'typeorm';
import { identifyCaller, identifyCallerNow, type CallerContext } from '../core/caller';
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
  const refused = (req: Request, error: unknown, next: NextFunction): void => {
    if (!(error instanceof UnauthorizedError)) return next(error);
    const sent = req.headers.authorization !== undefined;
    // RFC 6750: a sent but rejected token is invalid_token; a missing one gets the bare challenge.
    next(new HttpError(401, error.name, error.message, null, { 'WWW-Authenticate': challenge(sent ? ', error="invalid_token"' : '') }));
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    const ticket = ticketFromAuthorization(req.headers.authorization);
    const appToken = req.headers['so-apptoken'];
    const application = typeof appToken === 'string' ? appToken : null;
    try {
      // A busy caller's ticket and rate limit are known in this process: no promise, no wait.
      const known = identifyCallerNow(rateLimiter, ticket, application);
      if (known) {
        res.locals.caller = known;
        return next();
      }
    } catch (error) {
      return refused(req, error, next);
    }
    identifyCaller(ds, rateLimiter, ticket, application).then(
      (caller) => {
        res.locals.caller = caller;
        next();
      },
      (error: unknown) => refused(req, error, next),
    );
  };
}

export function callerOf(res: Response): CallerContext {
  return res.locals.caller as CallerContext;
}
