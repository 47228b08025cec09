import { RateLimitedError } from './errors';

/**
 * Per-ticket request rate limit: a token bucket per ticket hash that holds a minute's worth of
 * requests and refills continuously, so bursts up to the limit pass.
 *
 * With a `reserve` function (the service passes db/rateLimitBuckets.reserveTokens) the bucket is
 * shared by every process on the database: a process takes tokens from it in small chunks and
 * spends them locally, so most requests cost a Map lookup and one in a chunk a database round
 * trip. A chunk starts at one token and doubles while a ticket keeps coming back within a
 * second (up to a second's worth), so a quiet ticket never holds tokens another process could
 * use. Reserved tokens left unused expire after RESERVATION_TTL_MS: the limit is never exceeded,
 * and at most a chunk a process goes unused. A refusal is remembered until a token is due back.
 * Without `reserve` (unit tests) the bucket lives in this process only.
 */

const MAX_BUCKETS = 100_000;
const RESERVATION_TTL_MS = 1000;

/** Takes up to `want` tokens from the shared bucket `key` (capacity, refill per second). */
export type TokenReserver = (key: string, capacity: number, perSecond: number, want: number) => Promise<{ granted: number; retryAfterMs: number }>;

interface Reserved {
  tokens: number;
  expiresAt: number;
  deniedUntil: number;
  chunk: number;
  lastRefillAt: number;
  refilling: Promise<void> | null;
}

export class RequestRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly reserved = new Map<string, Reserved>();
  private readonly maxChunk: number;

  /** perMinute 0 switches the limit off. */
  constructor(
    private readonly perMinute: number,
    private readonly reserve: TokenReserver | null = null,
    private readonly now: () => number = Date.now,
  ) {
    this.maxChunk = Math.max(1, Math.floor(perMinute / 60));
  }

  /** Takes one request from `key`'s bucket, or throws RateLimitedError saying when to retry. */
  async take(key: string): Promise<void> {
    if (this.perMinute <= 0) return;
    if (!this.reserve) return this.takeLocal(key);
    let state = this.reserved.get(key);
    if (!state) {
      if (this.reserved.size >= MAX_BUCKETS) this.forgetIdleReservations();
      state = { tokens: 0, expiresAt: 0, deniedUntil: 0, chunk: 1, lastRefillAt: -Infinity, refilling: null };
      this.reserved.set(key, state);
    }
    for (;;) {
      const now = this.now();
      if (state.deniedUntil > now) throw this.limited(Math.ceil((state.deniedUntil - now) / 1000));
      if (state.tokens >= 1 && state.expiresAt > now) {
        state.tokens -= 1;
        return;
      }
      // One reservation at a time per ticket; requests arriving meanwhile wait for it.
      state.refilling ??= this.refill(key, state).finally(() => (state!.refilling = null));
      await state.refilling;
    }
  }

  /**
   * Takes one request from `key`'s bucket if that needs no waiting: true when taken; false when
   * only take() can decide (a reservation to make, or a refusal to throw).
   */
  takeNow(key: string): boolean {
    if (this.perMinute <= 0) return true;
    const now = this.now();
    if (!this.reserve) {
      const bucket = this.buckets.get(key);
      if (!bucket || bucket.tokens + (now - bucket.at) * (this.perMinute / 60_000) < 1) return false;
      this.takeLocal(key);
      return true;
    }
    const state = this.reserved.get(key);
    if (!state || state.deniedUntil > now || state.tokens < 1 || state.expiresAt <= now) return false;
    state.tokens -= 1;
    return true;
  }

  private async refill(key: string, state: Reserved): Promise<void> {
    const started = this.now();
    state.chunk = started - state.lastRefillAt < RESERVATION_TTL_MS ? Math.min(this.maxChunk, state.chunk * 2) : 1;
    state.lastRefillAt = started;
    const { granted, retryAfterMs } = await this.reserve!(key, this.perMinute, this.perMinute / 60, state.chunk);
    const now = this.now();
    state.tokens = granted;
    state.expiresAt = now + RESERVATION_TTL_MS;
    if (granted === 0) state.deniedUntil = now + Math.max(1, retryAfterMs);
  }

  private limited(retryAfterSeconds: number): RateLimitedError {
    const seconds = Math.max(1, retryAfterSeconds);
    return new RateLimitedError(
      `This ticket has sent more than ${this.perMinute} requests a minute (RATE_LIMIT_PER_MINUTE); the request was not processed. Retry after ${seconds} s.`,
      seconds,
    );
  }

  private takeLocal(key: string): void {
    const now = this.now();
    const perMs = this.perMinute / 60_000;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.forgetFullBuckets(now, perMs);
      bucket = { tokens: this.perMinute, at: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + (now - bucket.at) * perMs);
    bucket.at = now;
    if (bucket.tokens < 1) throw this.limited(Math.ceil((1 - bucket.tokens) / perMs / 1000));
    bucket.tokens -= 1;
  }

  /** A full bucket is the same as none: drop those first, everything if that is not enough. */
  private forgetFullBuckets(now: number, perMs: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * perMs >= this.perMinute) this.buckets.delete(key);
    }
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
  }

  /** Expired, not refused, not refilling: nothing worth keeping (the shared bucket has the rest). */
  private forgetIdleReservations(): void {
    const now = this.now();
    for (const [key, state] of this.reserved) {
      if (state.expiresAt <= now && state.deniedUntil <= now && !state.refilling) this.reserved.delete(key);
    }
  }
}
