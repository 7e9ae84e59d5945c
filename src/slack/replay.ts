/**
 * In front of Bolt's HTTP receiver on `/slack/events`: a signed Slack
 * request is accepted once. The body is read and its signature verified
 * here, as Slack documents it (`v0=` + hex HMAC-SHA256 of
 * `v0:<X-Slack-Request-Timestamp>:<raw body>` under the signing secret,
 * the timestamp within five minutes of now); the signature is then recorded
 * in the database for the rest of its window, and a request whose signature
 * is already there is a copy and is refused (401) before Bolt sees it.
 *
 * Slack's own retries (`X-Slack-Retry-Num`) are signed anew, with a new
 * timestamp, so they are new requests and go through. The buffered body is
 * handed to Bolt as `rawBody`, which Bolt reads instead of the stream and
 * verifies again: the receiver stays the real one.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { readBounded } from '../api/body.ts';
import type { Logger } from '../logger.ts';
import type { ServiceContext } from '../services/context.ts';
import { pruneSlackRequests, recordSlackRequest } from '../services/slack-requests.ts';

/** Slack's signing window: a timestamp further from now than this is refused. */
export const SIGNING_WINDOW_MS = 5 * 60_000;
/** Kept beyond the window, for clocks of processes on one database that disagree a little. */
export const CLOCK_SKEW_MS = 60_000;
/** Slack's payloads are far smaller. */
const BODY_LIMIT_BYTES = 1024 * 1024;
const PRUNE_EVERY_MS = 60_000;

export interface ReplayGuardOptions {
  readonly signingSecret: string;
  readonly services: ServiceContext;
  readonly log: Logger;
  /**
   * Epoch ms, for the signing window; Bolt checks the same signature against
   * the system clock, so this is the system clock outside tests.
   */
  readonly now?: () => number;
}

export type Verdict = { ok: true; signature: string; expiresAt: number } | { ok: false; reason: string };

/**
 * Checks Slack's signature headers against the raw body. `now` in epoch ms.
 * On success, says until when (epoch ms) a copy of this request is a replay.
 */
export function verifySlackSignature(
  signingSecret: string,
  headers: IncomingMessage['headers'],
  rawBody: Buffer,
  now: number,
): Verdict {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (typeof signature !== 'string' || typeof timestamp !== 'string') return { ok: false, reason: 'signature headers missing' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'timestamp is not a number of seconds' };
  const at = Number(timestamp) * 1000;
  if (Math.abs(now - at) > SIGNING_WINDOW_MS) return { ok: false, reason: 'timestamp outside the five-minute window' };
  const match = /^v0=([0-9a-f]{64})$/.exec(signature);
  if (!match) return { ok: false, reason: 'signature is not v0=<hex>' };
  const expected = createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(rawBody).digest();
  if (!timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'))) return { ok: false, reason: 'signature mismatch' };
  return { ok: true, signature, expiresAt: at + SIGNING_WINDOW_MS + CLOCK_SKEW_MS };
}

/** Wraps Bolt's request listener so that each signed request is accepted once. */
export function acceptOnce(next: RequestListener, options: ReplayGuardOptions): RequestListener {
  const { signingSecret, services, log } = options;
  const now = options.now ?? Date.now;
  let prunedAt = 0;

  const refuse = (res: ServerResponse, status: number) => {
    res.writeHead(status);
    res.end();
  };

  return (req, res) => {
    void (async () => {
      const body = await readBounded(req, BODY_LIMIT_BYTES);
      if (body === null) return refuse(res, 413);
      // Bolt reads a body already read from here instead of the stream.
      (req as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
      // Slack's unsigned certificate check: Bolt answers it and drops anything else in it.
      if (!req.headers['x-slack-signature'] && isSslCheck(req, body)) return next(req, res);

      const at = now();
      const verdict = verifySlackSignature(signingSecret, req.headers, body, at);
      if (!verdict.ok) {
        log.warn('slack request refused', { reason: verdict.reason });
        return refuse(res, 401);
      }
      if (at - prunedAt >= PRUNE_EVERY_MS) {
        prunedAt = at;
        await pruneSlackRequests(services.db, at);
      }
      if (!await recordSlackRequest(services.db, verdict.signature, verdict.expiresAt)) {
        log.warn('replayed slack request refused', { retry: req.headers['x-slack-retry-num'] ?? null });
        return refuse(res, 401);
      }
      next(req, res);
    })().catch((error: unknown) => {
      // Nothing was handed to Bolt: Slack retries an event, a person tries again.
      log.error('slack request not accepted', { error });
      if (!res.headersSent) refuse(res, 503);
      else res.end();
    });
  };
}

function isSslCheck(req: IncomingMessage, body: Buffer): boolean {
  return req.headers['content-type'] === 'application/x-www-form-urlencoded' && new URLSearchParams(body.toString('utf8')).get('ssl_check') === '1';
}

