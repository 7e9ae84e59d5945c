/**
 * The line of an approval card that names the policy rule that asked for it.
 * An SDK that stops a tool call under a `require_approval` rule names the
 * rule in the request's context the way its audit records do (`rule` with the
 * tool glob, `rule_kind`), or as `policy_rule`, `matched_rule` (a glob, or
 * `{"match": glob}` as the Python SDK's receipts write it) or `policy`
 * (`{"pattern", "action"}`). Everything there is agent text: escaped, cut.
 */
import { code } from '../mrkdwn.ts';

const KINDS = new Set(['block', 'allow', 'require_approval', 'audit']);

/** The rule's glob as text, from a string or an object with `match` or `pattern`. */
function globOf(value: unknown): string | null {
  if (typeof value === 'string' && value.trim() !== '') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    for (const field of ['match', 'pattern', 'rule']) if (typeof v[field] === 'string' && (v[field] as string).trim() !== '') return v[field] as string;
  }
  return null;
}

/** The rule an approval request's context names, or null when it names none. */
export function ruleOf(context: Record<string, unknown>): { glob: string; kind: string | null } | null {
  for (const field of ['rule', 'policy_rule', 'matched_rule', 'policy']) {
    if (!Object.hasOwn(context, field)) continue;
    const glob = globOf(context[field]);
    if (!glob) continue;
    const nested = context[field] !== null && typeof context[field] === 'object' ? (context[field] as Record<string, unknown>).action : undefined;
    const kind = [context.rule_kind, nested].find((k): k is string => typeof k === 'string' && KINDS.has(k)) ?? null;
    return { glob, kind };
  }
  return null;
}

/** "Asked for by policy rule `deploy-*` (`require_approval`)" for the card, or null. */
export function ruleLine(context: Record<string, unknown>): string | null {
  const rule = ruleOf(context);
  if (!rule) return null;
  return `:scroll: Asked for by policy rule ${code(rule.glob)}${rule.kind ? ` (${code(rule.kind)})` : ''}`;
}
