import { RateLimitedError } from './errors';

/**
 * Per-ticket request rate limit: a token bucket per ticket hash, in this process's memory (each
 * process limits on its own, so N processes allow up to N times the rate). The bucket holds a
 * minute's worth of requests and refills continuously, so bursts up to the limit pass.
 */

const MAX_BUCKETS = 100_000;

export class RequestRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** perMinute 0 switches the limit off. */
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one request from `key`'s bucket, or throws RateLimitedError saying when to retry. */
  take(key: string): void {
    if (this.perMinute <= 0) return;
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
    if (bucket.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000));
      throw new RateLimitedError(
        `This ticket has sent more than ${this.perMinute} requests a minute (RATE_LIMIT_PER_MINUTE); the request was not processed. Retry after ${retryAfterSeconds} s.`,
        retryAfterSeconds,
      );
    }
    bucket.tokens -= 1;
  }

  /** A full bucket is the same as none: drop those first, everything if that is not enough. */
  private forgetFullBuckets(now: number, perMs: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) * perMs >= this.perMinute) this.buckets.delete(key);
    }
    if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
  }
}
