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

export type SdkAction = 'block' | 'allow' | 'require_approval';

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
