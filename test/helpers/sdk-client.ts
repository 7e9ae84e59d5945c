/**
 * A JamJet SDK as this control plane sees it on the wire, written from what
 * the SDKs do (not their code): the Python SDK's policy sync
 * (`GET {api_url}/v1/projects/{project}/policies`, `Authorization: Bearer`,
 * on 200 it adds `rules[].action` / `rules[].pattern` in order and keeps its
 * rules otherwise) and its evaluator (fnmatch, first match wins, no match
 * allows); the TypeScript SDK's `GET /v1/policies?kind=...&active=true`.
 * The matcher below is its own fnmatch (translated to a regular expression
 * the way Python's `fnmatch.translate` does for `*` and `?`), independent of
 * src/core/policies.ts, so the two check each other.
 */

import type { PolicyEventInput } from '../../src/services/policy-events.ts';

export type SdkAction = 'block' | 'allow' | 'require_approval';

/**
 * One policy decision as the TypeScript SDK's cloud pusher sends it in
 * `POST /v1/policy-audit/events` (`{"events": [...], "path": "direct"}`): the
 * record its AuditWriter writes, with its snake_case field names and types
 * (`ts` ISO 8601, `schema_version` 1, `args` an object, the optional fields
 * null when unset). By default a `BLOCKED`, not executed, call of `deploy-prod`
 * matched by the block rule `deploy-*`; `over` replaces any field (undefined
 * leaves the field out of the JSON, as the SDK does).
 */
export function sdkDecision(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ts: '2026-11-28T09:00:00.000Z',
    run_id: 'run-1',
    trace_id: null,
    decision_id: null,
    adapter: 'ts-sdk',
    host: 'typescript',
    server: null,
    tool: 'deploy-prod',
    args: { env: 'prod' },
    decision: 'BLOCKED',
    rule: 'deploy-*',
    rule_kind: 'block',
    executed: false,
    policy_version: '1',
    schema_version: 1,
    ...over,
  };
}

/**
 * A decision as the control plane holds it once checked (src/api/policy-events.ts
 * turns the SDK's snake_case record into this `PolicyEventInput`), for tests that
 * call the service directly: a `BLOCKED`, not executed, call of `deploy-prod` by
 * run `run-1` with no rule and no args; `over` replaces any field.
 */
export function decisionInput(over: Partial<PolicyEventInput> = {}): PolicyEventInput {
  return {
    ts: '2026-11-28T09:00:00.000Z',
    runId: 'run-1',
    adapter: 'ts-sdk',
    host: 'typescript',
    tool: 'deploy-prod',
    decision: 'BLOCKED',
    executed: false,
    schemaVersion: 1,
    rule: null,
    ruleKind: null,
    traceId: null,
    decisionId: null,
    server: null,
    policyVersion: '1',
    args: null,
    ...over,
  };
}

export interface SdkDecision {
  /** What the SDK does with the call: BLOCKED, WAITING_FOR_APPROVAL, or ALLOWED (an allow rule or no rule). */
  readonly decision: 'ALLOWED' | 'BLOCKED' | 'WAITING_FOR_APPROVAL';
  readonly rule: { action: SdkAction; pattern: string } | null;
}

/** Python's fnmatch for `*` and `?` (no classes: the control plane refuses `[`): any run, dots included; one character. */
export function fnmatch(name: string, pattern: string): boolean {
  const source = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&'))).join('');
  return new RegExp(`^(?:${source})$`, 'su').test(name);
}

export class SdkClient {
  private rules: { action: SdkAction; pattern: string }[] = [];

  constructor(
    readonly apiUrl: string,
    readonly apiKey: string,
    readonly project: string,
  ) {}

  /** The policy sync: on 200 the rules replace what the last sync gave, in order; any other answer keeps them. Returns the status. */
  async sync(): Promise<number> {
    const res = await fetch(`${this.apiUrl}/v1/projects/${this.project}/policies`, { headers: { authorization: `Bearer ${this.apiKey}` } });
    if (res.status === 200) {
      const body = (await res.json()) as { rules?: { action: SdkAction; pattern: string }[] };
      this.rules = (body.rules ?? []).map((r) => ({ action: r.action, pattern: r.pattern }));
    } else {
      await res.body?.cancel();
    }
    return res.status;
  }

  /** The TypeScript SDK's read of one kind: `GET /v1/policies?kind=<kind>&active=true`. */
  async policiesOfKind(kind: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.apiUrl}/v1/policies?kind=${encodeURIComponent(kind)}&active=true`, { headers: { authorization: `Bearer ${this.apiKey}` } });
    return { status: res.status, body: await res.json() };
  }

  /** First match wins; no match allows. */
  evaluate(tool: string): SdkDecision {
    const rule = this.rules.find((r) => fnmatch(tool, r.pattern)) ?? null;
    if (!rule || rule.action === 'allow') return { decision: 'ALLOWED', rule };
    return { decision: rule.action === 'block' ? 'BLOCKED' : 'WAITING_FOR_APPROVAL', rule };
  }
}
