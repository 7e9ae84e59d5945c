/**
 * The rate limits of the SDK API's writes: a token bucket per API key and
 * route, shared by every replica on the database (src/services/rate-limits.ts).
 */
import type { ServiceContext } from '../services/context.ts';
import { takeRateToken, type RateLimit } from '../services/rate-limits.ts';

export type { RateLimit } from '../services/rate-limits.ts';

/** `POST /v1/approvals`: each request may post a card to Slack. */
export const APPROVALS_RATE_LIMIT: RateLimit = { bucket: 'approvals', burst: 20, perSecond: 5 };

/**
 * `POST /v1/policy-audit/events`: one insert per push. The TypeScript SDK
 * pushes each decision on its own as the agent calls tools, so the bucket is
 * wider than approvals'; and it is its own, so a chatty agent's decisions
 * never cost it an approval request.
 */
export const POLICY_EVENTS_RATE_LIMIT: RateLimit = { bucket: 'policy_events', burst: 200, perSecond: 50 };

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
