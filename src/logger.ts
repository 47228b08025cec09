import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import pinoHttp from 'pino-http';
import pretty from 'pino-pretty';
import type { Config } from './config';

export type Logger = pino.Logger;

/** Structured JSON logs; secrets and tickets are redacted wherever they appear in a log object. */
export function createLogger(config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'logFormat'>>, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    redact: {
      paths: [
        'secret', 'Secret', 'ticket', 'token', '*.secret', '*.Secret', '*.ticket', 'headers.authorization', 'req.headers.authorization', 'req.headers.cookie',
        'applicationToken', 'ApplicationToken', 'req.headers["so-apptoken"]', 'headers["so-apptoken"]',
        // A failed query (TypeORM QueryFailedError) carries its bound values, and PostgreSQL's detail
        // quotes the failing row ("Failing row contains (...)"): Secrets, header values such as Authorization.
        'err.parameters', 'err.detail', 'err.driverError.parameters', 'err.driverError.detail',
      ],
      censor: '[redacted]',
    },
  };
  // A destination other than stdout: tests read what would be logged.
  if (destination) return pino(options, destination);
  // A person at a terminal gets readable lines; pipes and log collectors get JSON.
  if (process.stdout.isTTY && config.logFormat !== 'json') return pino(options, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l' }));
  return pino(options);
}

/**
 * One log line per request, and a request id (the caller's X-Request-Id, or a new one) on every
 * line logged through `req.log`, echoed back in the response so a caller can quote it.
 */
export function requestLogger(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId(req: IncomingMessage, res: ServerResponse) {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : crypto.randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    customLogLevel: (_req, res, error) => (error || res.statusCode >= 500 ? 'warn' : 'info'),
    // The SOAP door answers every fault with 500 (SOAP 1.1): the fault code, not the status, says whose fault.
    serializers: { req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }) },
  });
}
