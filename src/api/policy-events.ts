/**
 * `POST /v1/policy-audit/events` (docs/ARCHITECTURE.md, section 8): the
 * decisions a JamJet SDK's cloud pusher reports, `{"events": [...], "path"?}`
 * (the TypeScript SDK sends one event with `"path": "direct"` and gives up
 * after 500 ms). Answers 202 `{"accepted": n}` after one insert; announcing
 * is a job's work.
 *
 * Each event's fields are the SDK's audit record: `ts`, `run_id`, `adapter`,
 * `host`, `tool`, `decision`, `executed`, `schema_version` (1) required;
 * `rule`, `rule_kind`, `trace_id`, `decision_id`, `server`, `policy_version`
 * (string or null) and `args` (object) optional; others are ignored. Text
 * fields are redacted and cut to `LIMITS.policyEventText`; `args` are
 * redacted value by value and kept while at most `LIMITS.policyEventArgs`
 * characters as JSON.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { LIMITS } from '../core/limits.ts';
import { redactValue, storableText } from '../core/secrets.ts';
import type { ServiceContext } from '../services/context.ts';
import type { KeyIdentity } from '../services/key-auth.ts';
import { recordPolicyEvents, type PolicyEventInput } from '../services/policy-events.ts';
import { jsonDepth, MAX_JSON_DEPTH, readJson } from './body.ts';
import type { RateLimiter } from './rate-limit.ts';
import { sendError, sendJson } from './respond.ts';

export const POLICY_EVENTS_PATH = '/v1/policy-audit/events';

/**
 * An SDK decision: a word such as `BLOCKED`. The SDKs write upper case, but
 * JamJet's own examples push `allowed`, so any case is taken and kept upper-cased.
 */
const DECISION = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;

type Check = { ok: true; events: PolicyEventInput[] } | { ok: false; status: 400 | 413; message: string };

/** A zod error sentence after the field's name: "is missing; it must be X." or "must be X.". */
const must = (what: string) => ({ error: (iss: { input?: unknown }) => (iss.input === undefined ? `is missing; it must be ${what}.` : `must be ${what}.`) });
const requiredText = z.string(must('a string')).refine((v) => v.trim() !== '', { error: 'must not be empty.' });
const optionalText = z.string(must('a string or null')).nullable().optional();

/** One event of the SDK's audit record (see the file comment); unknown fields are ignored. */
const policyEvent = z.object(
  {
    ts: requiredText,
    run_id: requiredText,
    adapter: requiredText,
    host: requiredText,
    tool: requiredText,
    decision: z.string(must('a string such as "BLOCKED"')).regex(DECISION, { error: 'must be a word of letters, digits and _ of at most 40 characters, such as "BLOCKED".' }),
    executed: z.boolean(must('true or false')),
    schema_version: z.literal(1, must('1')),
    rule: optionalText,
    rule_kind: optionalText,
    trace_id: optionalText,
    decision_id: optionalText,
    server: optionalText,
    policy_version: optionalText,
    args: z
      .record(z.string(), z.unknown(), must('a JSON object'))
      .refine((a) => jsonDepth(a) <= MAX_JSON_DEPTH, { error: `nests more than ${MAX_JSON_DEPTH} levels deep.` })
      .nullable()
      .optional(),
  },
  must('a JSON object'),
);

/**
 * A string redacted, its NUL characters shown as U+FFFD (PostgreSQL text
 * cannot hold U+0000: the insert would fail and the whole batch be lost), then
 * cut to the bound with "…" (never half of a surrogate pair).
 */
function bounded(text: string): string {
  const clean = storableText(text);
  if (clean.length <= LIMITS.policyEventText) return clean;
  let cut = LIMITS.policyEventText - 1;
  const high = clean.charCodeAt(cut - 1);
  if (high >= 0xd800 && high <= 0xdbff) cut--;
  return `${clean.slice(0, cut)}…`;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The events of a parsed body, checked (zod), redacted and bounded; or the
 * first problem as one sentence naming the field and the event's index
 * (400), or 413 for more than `LIMITS.policyEventsPerBatch` events.
 */
export function checkPolicyEvents(body: unknown): Check {
  const bad = (message: string): Check => ({ ok: false, status: 400, message });
  if (!isObject(body)) return bad('The body must be a JSON object with `events`, an array of decision objects.');
  const list = body.events;
  if (!Array.isArray(list) || list.length === 0) return bad('`events` must be a non-empty array of decision objects.');
  if (list.length > LIMITS.policyEventsPerBatch) {
    return { ok: false, status: 413, message: `One request may carry at most ${LIMITS.policyEventsPerBatch} events; this one has ${list.length}.` };
  }
  if (body.path !== undefined && body.path !== null && typeof body.path !== 'string') return bad('`path` must be a string when present.');
  const events: PolicyEventInput[] = [];
  for (const [i, raw] of list.entries()) {
    const parsed = policyEvent.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.length > 0 ? `\`events[${i}].${String(issue.path[0])}\`` : `\`events[${i}]\``;
      return bad(`${field} ${issue.message}`);
    }
    const e = parsed.data;
    // The args exactly as sent (a schema's copy would drop a `__proto__` key), redacted value by value before
    // anything is serialised: a pattern never runs over JSON text.
    const sent = (raw as { args?: unknown }).args;
    let args: string | null = null;
    if (isObject(sent)) {
      const json = JSON.stringify(redactValue(sent));
      args = json.length <= LIMITS.policyEventArgs ? json : JSON.stringify({ _omitted: `args of ${json.length} characters` });
    }
    const text = (value: string | null | undefined) => (typeof value === 'string' ? bounded(value) : null);
    events.push({
      ts: bounded(e.ts),
      runId: bounded(e.run_id),
      adapter: bounded(e.adapter),
      host: bounded(e.host),
      tool: bounded(e.tool),
      decision: e.decision.toUpperCase(),
      executed: e.executed,
      schemaVersion: 1,
      rule: text(e.rule),
      ruleKind: text(e.rule_kind),
      traceId: text(e.trace_id),
      decisionId: text(e.decision_id),
      server: text(e.server),
      policyVersion: text(e.policy_version),
      args,
    });
  }
  return { ok: true, events };
}

/**
 * Serves `POST /v1/policy-audit/events` for an authenticated key: the shared
 * SDK rate limit, the body, the checks, one insert; 202 `{"accepted": n}`.
 * `kick` wakes the job queue when the push scheduled an announcement.
 */
export async function servePolicyEvents(
  services: ServiceContext,
  limiter: RateLimiter,
  key: KeyIdentity,
  req: IncomingMessage,
  res: ServerResponse,
  kick: () => void,
): Promise<void> {
  const wait = await limiter.take(key.keyId);
  if (wait > 0) {
    return sendError(res, 429, 'rate_limited', `Too many requests for this key; retry in ${wait} s.`, { 'retry-after': String(wait) });
  }
  const body = await readJson(req);
  if (!body.ok) return sendError(res, body.status, body.code, body.message, body.status === 413 ? { connection: 'close' } : {});
  const checked = checkPolicyEvents(body.value);
  if (!checked.ok) return sendError(res, checked.status, checked.status === 413 ? 'payload_too_large' : 'invalid_request', checked.message);
  const { accepted, scheduled } = await recordPolicyEvents(services, key, checked.events);
  sendJson(res, 202, { accepted });
  // The queue arms its timer for the announcement, due in a few seconds, instead of waiting for the next poll.
  if (scheduled) kick();
}
