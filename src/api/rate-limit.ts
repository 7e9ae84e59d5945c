/**
 * The rate limit of `POST /v1/approvals`: a token bucket per API key, shared
 * by every replica on the database (src/services/rate-limits.ts).
 */
import type { ServiceContext } from '../services/context.ts';
import { takeRateToken, type RateLimit } from '../services/rate-limits.ts';

export type { RateLimit } from '../services/rate-limits.ts';

export const APPROVALS_RATE_LIMIT: RateLimit = { burst: 20, perSecond: 5 };

export class RateLimiter {
  constructor(
    private readonly services: Pick<ServiceContext, 'db' | 'now'>,
    private readonly limit: RateLimit,
  ) {}

  /**
   * Takes a token of API key `keyId` (`api_keys.id`) now: 0 when the request
   * may go ahead, otherwise the whole seconds to wait (`Retry-After`).
   * Rejects when the database fails.
   */
  take(keyId: number): Promise<number> {
    return takeRateToken(this.services.db, this.limit, keyId, this.services.now());
  }
}
