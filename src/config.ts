import path from 'node:path';
import { isValidCidr } from './outbound/addressGuard';
import { parseSecretKeys } from './db/secretBox';

/** Everything the service reads from its environment, read once and validated at start. */
export interface Config {
  port: number;
  /** Base URL clients use to reach us, for the WSDL's soap:address; null: taken from each request's Host. */
  publicUrl: string | null;
  /** PostgreSQL server; null means the embedded database in dataDir. */
  databaseUrl: string | null;
  dataDir: string;
  bodyLimitBytes: number;
  verifyTimeoutMs: number;
  deliveryTimeoutMs: number;
  allowHttpTargets: boolean;
  allowPrivateTargets: boolean;
  /** The tenant id sent as ContextIdentifier in every payload. */
  contextIdentifier: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  /** 'auto': readable lines on a terminal, JSON otherwise; 'json': always JSON. */
  logFormat: 'auto' | 'json';
  /** Print a first ticket when the ticket table is empty (quick start). */
  bootstrapTicket: boolean;
  /** Waits between delivery attempts (NetServer: 1 s, 4 s, so three attempts). */
  retryScheduleMs: number[];
  /** Consecutive errors at which a webhook becomes TooManyErrors. */
  consecutiveErrorLimit: number;
  /** `serve` runs a delivery worker in process. */
  runWorker: boolean;
  workerConcurrency: number;
  workerBatchSize: number;
  pollIntervalMs: number;
  /** A claim's backstop lease is deliveryTimeoutMs plus this (used only for a claim whose worker has no heartbeat row). */
  leaseMarginMs: number;
  /** How often a worker renews its heartbeat and releases dead workers' claims. */
  workerHeartbeatMs: number;
  /** A worker whose heartbeat is this old is dead: any other worker releases its claims. */
  workerDeadAfterMs: number;
  /** true: deliveries for a TooManyErrors webhook are kept held until it is Active again; false: none are created (NetServer). */
  holdDeliveriesWhileTooManyErrors: boolean;
  /** SMTP for the TooManyErrors email; null: a warning is logged instead. */
  smtpUrl: string | null;
  smtpFrom: string;
  smtpTimeoutMs: number;
  /** Requests a minute per ticket and process, on both doors; 0: no limit. */
  rateLimitPerMinute: number;
  /** AES-256-GCM key that seals webhook Secrets at rest (db/secretBox.ts); null: Secrets stored as given. */
  secretEncryptionKey: Buffer | null;
  /** Every configured key, newest (secretEncryptionKey) first: all open stored Secrets during a key rotation. */
  secretEncryptionKeys: Buffer[];
  /** Most claimed-and-unfinished deliveries per webhook, across all workers. */
  webhookMaxInFlight: number;
  /** CIDRs targets may resolve to although not public (e.g. 10.1.2.0/24), checked at save and at connect. */
  allowedTargetCidrs: string[];
  /** On SIGTERM/SIGINT, how long attempts (and requests) in flight may take to finish; unfinished claims are then released. */
  shutdownTimeoutMs: number;
  /** Events, succeeded and cancelled deliveries and attempt-log rows older than this are purged. */
  retentionDays: number;
  /** Failed deliveries (redeliverable) and their attempts are kept this long. */
  failedRetentionDays: number;
  /** How often the background purge runs; 0: never (use `webhook-agent purge`). */
  retentionIntervalMs: number;
  /** `worker` serves /healthz, /readyz and /metrics on this port; null: none (`serve` has them on PORT). */
  metricsPort: number | null;
  /**
   * The doors' webhook reads (one webhook, or a list) are answered from a per-process cache for at
   * most this long; a committed change to a webhook forgets it and every list (db/webhookReadCache.ts). 0: always read the database.
   */
  webhookCacheMs: number;
  /** OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set: export traces over OTLP/HTTP (src/tracing.ts). */
  otlpTracing: boolean;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** Reads the configuration; every problem is collected so the operator fixes them in one go. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${JSON.stringify(raw)} is not a whole number from ${min} to ${max}.`);
      return fallback;
    }
    return value;
  };

  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const normalized = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
    if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
    problems.push(`${name}=${JSON.stringify(raw)} is not a boolean; use true or false.`);
    return fallback;
  };

  const size = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw);
    const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
    if (!match || unit === undefined || Number(match[1]) * unit < 1024) {
      problems.push(`${name}=${JSON.stringify(raw)} is not a size of at least 1kb; use bytes or a unit, e.g. 1mb or 512kb.`);
      return fallback;
    }
    return Number(match[1]) * unit;
  };

  const port = int('PORT', 8080, 0, 65535);

  let publicUrl = env.PUBLIC_URL?.trim() || null;
  if (publicUrl !== null) {
    try {
      if (!['http:', 'https:'].includes(new URL(publicUrl).protocol)) throw new Error('protocol');
      publicUrl = publicUrl.replace(/\/+$/, '');
    } catch {
      problems.push(`PUBLIC_URL=${JSON.stringify(env.PUBLIC_URL)} is not an absolute http(s) URL, e.g. https://webhooks.example.com.`);
    }
  }

  const databaseUrl = env.DATABASE_URL?.trim() || null;
  if (databaseUrl !== null && !/^postgres(ql)?:\/\//i.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// connection URL (or unset, for the embedded database).');
  }

  const retryScheduleMs = (env.DELIVERY_RETRY_SCHEDULE_MS?.trim() || '1000,4000').split(',').map((part) => Number(part.trim()));
  if (retryScheduleMs.some((ms) => !Number.isInteger(ms) || ms < 0 || ms > 86_400_000)) {
    problems.push(`DELIVERY_RETRY_SCHEDULE_MS=${JSON.stringify(env.DELIVERY_RETRY_SCHEDULE_MS)} must be comma-separated waits in ms (0 to 86400000), e.g. 1000,4000.`);
  }

  const smtpUrl = env.SMTP_URL?.trim() || null;
  if (smtpUrl !== null && !/^smtps?:\/\//i.test(smtpUrl)) {
    problems.push('SMTP_URL must be an smtp:// or smtps:// URL, e.g. smtp://user:pass@mail.example.com:587 (or unset).');
  }

  const logLevel = (env.LOG_LEVEL?.trim().toLowerCase() || 'info') as Config['logLevel'];
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(logLevel)) {
    problems.push(`LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)} must be one of debug, info, warn, error, silent.`);
  }

  let secretEncryptionKeys: Buffer[] = [];
  if (env.SECRET_ENCRYPTION_KEY?.trim()) {
    const parsed = parseSecretKeys(env.SECRET_ENCRYPTION_KEY);
    if ('problem' in parsed) problems.push(parsed.problem);
    else secretEncryptionKeys = parsed.keys;
  }

  const allowedTargetCidrs = (env.ALLOWED_TARGET_CIDRS ?? '').split(',').map((part) => part.trim()).filter((part) => part !== '');
  const badCidr = allowedTargetCidrs.find((cidr) => !isValidCidr(cidr));
  if (badCidr !== undefined) {
    problems.push(`ALLOWED_TARGET_CIDRS contains ${JSON.stringify(badCidr)}, which is not a CIDR; use comma-separated ranges such as 10.1.2.0/24,fd00:1::/64.`);
  }

  const metricsPort = env.METRICS_PORT?.trim() ? int('METRICS_PORT', 0, 0, 65535) : null;

  // The exporter reads the OTEL_* variables itself (the standard ones); here only whether it runs.
  const otlpVariable = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const otlpEndpoint = env[otlpVariable]?.trim() || null;
  if (otlpEndpoint !== null && !/^https?:\/\/[^/]/i.test(otlpEndpoint)) {
    problems.push(`${otlpVariable}=${JSON.stringify(otlpEndpoint)} is not an http(s) URL; use the collector's OTLP/HTTP address, e.g. http://otel-collector:4318 (or unset it: no traces).`);
  }
  const otelDisabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true' || env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none';

  const config: Config = {
    port,
    publicUrl,
    databaseUrl,
    dataDir: path.resolve(env.DATA_DIR?.trim() || './data'),
    bodyLimitBytes: size('BODY_LIMIT', 1024 * 1024),
    verifyTimeoutMs: int('VERIFY_TIMEOUT_MS', 10_000, 100, 120_000),
    deliveryTimeoutMs: int('DELIVERY_TIMEOUT_MS', 10_000, 100, 120_000),
    allowHttpTargets: bool('ALLOW_HTTP_TARGETS', false),
    allowPrivateTargets: bool('ALLOW_PRIVATE_TARGETS', false),
    contextIdentifier: env.CONTEXT_IDENTIFIER?.trim() || 'webhook-agent',
    logLevel,
    logFormat: env.LOG_FORMAT?.trim().toLowerCase() === 'json' ? 'json' : 'auto',
    bootstrapTicket: bool('BOOTSTRAP_TICKET', true),
    retryScheduleMs,
    consecutiveErrorLimit: int('CONSECUTIVE_ERROR_LIMIT', 9, 1, 1000),
    runWorker: bool('RUN_WORKER', true),
    workerConcurrency: int('WORKER_CONCURRENCY', 64, 1, 1000),
    workerBatchSize: int('WORKER_BATCH_SIZE', 50, 1, 1000),
    pollIntervalMs: int('POLL_INTERVAL_MS', 1000, 10, 60_000),
    leaseMarginMs: int('LEASE_MARGIN_MS', 30_000, 1000, 600_000),
    workerHeartbeatMs: int('WORKER_HEARTBEAT_MS', 1000, 50, 60_000),
    workerDeadAfterMs: int('WORKER_DEAD_AFTER_MS', 3000, 150, 600_000),
    holdDeliveriesWhileTooManyErrors: bool('HOLD_DELIVERIES_WHILE_TOO_MANY_ERRORS', true),
    smtpUrl,
    smtpFrom: env.SMTP_FROM?.trim() || 'webhook-agent@localhost',
    smtpTimeoutMs: int('SMTP_TIMEOUT_MS', 10_000, 100, 120_000),
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 600, 0, 1_000_000),
    secretEncryptionKey: secretEncryptionKeys[0] ?? null,
    secretEncryptionKeys,
    webhookMaxInFlight: int('WEBHOOK_MAX_IN_FLIGHT', 8, 1, 10_000),
    allowedTargetCidrs,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    retentionDays: int('RETENTION_DAYS', 30, 1, 36_500),
    failedRetentionDays: int('FAILED_RETENTION_DAYS', 90, 1, 36_500),
    retentionIntervalMs: int('RETENTION_INTERVAL_MS', 3_600_000, 0, 604_800_000),
    metricsPort,
    webhookCacheMs: int('WEBHOOK_CACHE_MS', 60_000, 0, 3_600_000),
    otlpTracing: otlpEndpoint !== null && !otelDisabled,
  };
  if (config.workerDeadAfterMs < 2 * config.workerHeartbeatMs) {
    problems.push(
      `WORKER_DEAD_AFTER_MS (${config.workerDeadAfterMs}) must be at least twice WORKER_HEARTBEAT_MS (${config.workerHeartbeatMs}), or one late heartbeat makes a live worker look dead.`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
