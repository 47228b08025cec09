import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import type PinoPretty from 'pino-pretty';
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
  // pino-pretty is loaded only then: a service logging JSON never needs it.
  if (process.stdout.isTTY && config.logFormat !== 'json') {
    const pretty = require('pino-pretty') as typeof PinoPretty;
    return pino(options, pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l' }));
  }
  return pino(options);
}

const REQUEST_ID = /^[\w.-]{1,100}$/;

/**
 * A request id on every request (the caller's X-Request-Id, or a new one), echoed back so a
 * caller can quote it. With LOG_LEVEL=debug, one line per finished request (5xx at `warn`).
 * Not at `info`: a JSON line and a write per request cost more than a cheap request itself, and
 * the doors log every failure of ours in detail (with the error) anyway.
 */
export function requestTracer(logger: Logger) {
  return (req: IncomingMessage & { id?: string }, res: ServerResponse): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    // Failures are logged by the doors (with the error); this line only traces, at debug.
    if (logger.isLevelEnabled('debug')) {
      const started = performance.now();
      res.once('finish', () => {
        const level = res.statusCode >= 500 ? 'warn' : 'debug';
        logger[level]({ req: { id, method: req.method, url: req.url }, res: { statusCode: res.statusCode }, responseTime: Math.round(performance.now() - started) }, 'request completed');
      });
    }
  };
}
