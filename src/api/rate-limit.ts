/**
 * A token bucket per API key, so one runaway agent cannot flood a channel
 * with approval cards. Kept in memory: a restart refills every bucket.
 */
export interface RateLimit {
  /** Requests allowed at once. */
  readonly burst: number;
  /** Requests allowed per second after that. */
  readonly perSecond: number;
}

export const APPROVALS_RATE_LIMIT: RateLimit = { burst: 20, perSecond: 5 };

export class RateLimiter {
  private readonly buckets = new Map<number, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number,
  ) {}

  /** 0 when the request may go ahead, otherwise the seconds to wait. */
  take(keyId: number): number {
    const at = this.now();
    const bucket = this.buckets.get(keyId) ?? { tokens: this.limit.burst, at };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((at - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = at;
    this.buckets.set(keyId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
  }
}
