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
import { LIMITS } from '../core/limits.ts';
import { redact, redactValue } from '../core/secrets.ts';
import type { ServiceContext } from '../services/context.ts';
import type { KeyIdentity } from '../services/key-auth.ts';
import { recordPolicyEvents, type PolicyEventInput } from '../services/policy-events.ts';
import { readJson } from './body.ts';
import type { RateLimiter } from './rate-limit.ts';
import { sendError, sendJson } from './respond.ts';

export const POLICY_EVENTS_PATH = '/v1/policy-audit/events';

/** Deeper than this, `args` are refused: nobody reads them, and copying them costs. */
const MAX_ARGS_DEPTH = 20;
/** An SDK decision: an upper-case word such as `BLOCKED`. */
const DECISION = /^[A-Z][A-Z0-9_]{0,39}$/;

type Check = { ok: true; events: PolicyEventInput[] } | { ok: false; status: 400 | 413; message: string };

const REQUIRED_TEXT = ['ts', 'run_id', 'adapter', 'host', 'tool'] as const;
const OPTIONAL_TEXT = ['rule', 'rule_kind', 'trace_id', 'decision_id', 'server', 'policy_version'] as const;

/** A string redacted, then cut to the bound with "…" (never half of a surrogate pair). */
function bounded(text: string): string {
  const clean = redact(text);
  if (clean.length <= LIMITS.policyEventText) return clean;
  let cut = LIMITS.policyEventText - 1;
  const high = clean.charCodeAt(cut - 1);
  if (high >= 0xd800 && high <= 0xdbff) cut--;
  return `${clean.slice(0, cut)}…`;
}

function depthOf(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_ARGS_DEPTH) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The events of a parsed body, checked, redacted and bounded; or the first
 * problem as one sentence naming the field and the event's index (400), or
 * 413 for more than `LIMITS.policyEventsPerBatch` events.
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
    const at = (field: string) => `\`events[${i}].${field}\``;
    if (!isObject(raw)) return bad(`\`events[${i}]\` must be a JSON object.`);
    for (const field of REQUIRED_TEXT) {
      const value = raw[field];
      if (value === undefined || value === null) return bad(`${at(field)} is missing; it must be a string.`);
      if (typeof value !== 'string') return bad(`${at(field)} must be a string.`);
      if (value.trim() === '') return bad(`${at(field)} must not be empty.`);
    }
    for (const field of OPTIONAL_TEXT) {
      const value = raw[field];
      if (value !== undefined && value !== null && typeof value !== 'string') return bad(`${at(field)} must be a string or null.`);
    }
    if (typeof raw.decision !== 'string') return bad(`${at('decision')} must be a string such as "BLOCKED".`);
    if (!DECISION.test(raw.decision)) return bad(`${at('decision')} must be an upper-case word of at most 40 characters, such as "BLOCKED".`);
    if (typeof raw.executed !== 'boolean') return bad(`${at('executed')} must be true or false.`);
    if (raw.schema_version !== 1) return bad(`${at('schema_version')} must be 1.`);
    let args: string | null = null;
    if (raw.args !== undefined && raw.args !== null) {
      if (!isObject(raw.args)) return bad(`${at('args')} must be a JSON object.`);
      if (depthOf(raw.args) > MAX_ARGS_DEPTH) return bad(`${at('args')} nests more than ${MAX_ARGS_DEPTH} levels deep.`);
      // Value by value, before anything is serialised: a pattern never runs over JSON text.
      const json = JSON.stringify(redactValue(raw.args));
      args = json.length <= LIMITS.policyEventArgs ? json : JSON.stringify({ _omitted: `args of ${json.length} characters` });
    }
    const text = (field: (typeof OPTIONAL_TEXT)[number]) => (typeof raw[field] === 'string' ? bounded(raw[field]) : null);
    events.push({
      ts: bounded(raw.ts as string),
      runId: bounded(raw.run_id as string),
      adapter: bounded(raw.adapter as string),
      host: bounded(raw.host as string),
      tool: bounded(raw.tool as string),
      decision: raw.decision,
      executed: raw.executed,
      schemaVersion: 1,
      rule: text('rule'),
      ruleKind: text('rule_kind'),
      traceId: text('trace_id'),
      decisionId: text('decision_id'),
      server: text('server'),
      policyVersion: text('policy_version'),
      args,
    });
  }
  return { ok: true, events };
}

/**
 * Serves `POST /v1/policy-audit/events` for an authenticated key: the shared
 * SDK rate limit, the body, the checks, one insert; 202 `{"accepted": n}`.
 */
export async function servePolicyEvents(
  services: ServiceContext,
  limiter: RateLimiter,
  key: KeyIdentity,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const wait = await limiter.take(key.keyId);
  if (wait > 0) {
    return sendError(res, 429, 'rate_limited', `Too many requests for this key; retry in ${wait} s.`, { 'retry-after': String(wait) });
  }
  const body = await readJson(req);
  if (!body.ok) return sendError(res, body.status, body.code, body.message, body.status === 413 ? { connection: 'close' } : {});
  const checked = checkPolicyEvents(body.value);
  if (!checked.ok) return sendError(res, checked.status, checked.status === 413 ? 'payload_too_large' : 'invalid_request', checked.message);
  const accepted = await recordPolicyEvents(services, key, checked.events);
  sendJson(res, 202, { accepted });
}
