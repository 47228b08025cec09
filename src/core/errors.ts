/**
 * Typed core errors. Each door (SOAP, REST) translates them in one place; messages are written
 * for the caller: what was wrong and how to fix it. They never carry secrets or stack traces.
 */
export abstract class CoreError extends Error {
  abstract readonly kind: 'validation' | 'not_found' | 'verification_failed' | 'unauthorized' | 'conflict' | 'not_implemented' | 'rate_limited' | 'unavailable';
  /** True when the caller can fix it (soap:Client, 4xx); false for our own faults. */
  abstract readonly callerFault: boolean;
}

export class ValidationError extends CoreError {
  readonly kind = 'validation';
  readonly callerFault = true;
  constructor(message: string, public readonly field: string | null = null) {
    super(message);
    this.name = 'ValidationError';
  }
}

export class NotFoundError extends CoreError {
  readonly kind = 'not_found';
  readonly callerFault = true;
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

export class VerificationFailedError extends CoreError {
  readonly kind = 'verification_failed';
  readonly callerFault = true;
  constructor(message: string) {
    super(message);
    this.name = 'VerificationFailedError';
  }
}

export class UnauthorizedError extends CoreError {
  readonly kind = 'unauthorized';
  readonly callerFault = true;
  constructor(message: string) {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

export class ConflictError extends CoreError {
  readonly kind = 'conflict';
  readonly callerFault = true;
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** Too many requests for one ticket; nothing was done. The doors add their retry hint (Retry-After, the fault text). */
export class RateLimitedError extends CoreError {
  readonly kind = 'rate_limited';
  readonly callerFault = true;
  constructor(message: string, public readonly retryAfterSeconds: number) {
    super(message);
    this.name = 'RateLimitedError';
  }
}

/** An operation whose capability has not been built yet; a server-side fault, never a silent no-op. */
export class NotImplementedError extends CoreError {
  readonly kind = 'not_implemented';
  readonly callerFault = false;
  constructor(message: string) {
    super(message);
    this.name = 'NotImplementedError';
  }
}

/** The database is briefly unreachable (a restart, a dropped connection): retry soon. Our side, not the caller's. */
export class DatabaseUnavailableError extends CoreError {
  readonly kind = 'unavailable';
  readonly callerFault = false;
  constructor(message: string, public readonly retryAfterSeconds: number) {
    super(message);
    this.name = 'DatabaseUnavailableError';
  }
}
