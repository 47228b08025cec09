import pino from 'pino';
import type { Config } from './config';

export type Logger = pino.Logger;

/** Structured JSON logs; secrets and tickets are redacted wherever they appear in a log object. */
export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    redact: {
      paths: ['secret', 'Secret', 'ticket', 'token', '*.secret', '*.Secret', '*.ticket', 'headers.authorization', 'req.headers.authorization'],
      censor: '[redacted]',
    },
  });
}
