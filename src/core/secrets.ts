/**
 * What a secret looks like, so it can be blanked wherever text leaves the
 * bot: log lines, and anything an agent or a person sent that is shown in
 * Slack, answered by the API or written to the audit trail.
 */
const SECRETS: [RegExp, string][] = [
  [/jj_[0-9a-f]{32}/gi, 'jj_[redacted]'],
  [/xox[abpres]-[\w-]+/gi, 'xox*-[redacted]'],
  [/xapp-[\w-]+/gi, 'xapp-[redacted]'],
  [/gh[pousr]_[A-Za-z0-9]{20,}/g, 'gh*_[redacted]'],
  [/github_pat_\w+/g, 'github_pat_[redacted]'],
  // A Reveal or Retry button's value: a delivery id and the key that opens it.
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{43}/g, '[redacted button value]'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[redacted private key]'],
  // A private key cut off before its end line is still a secret: everything after its start goes.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*$/g, '[redacted private key]'],
];

/** One piece of text with every secret in it blanked. Never run it over serialised JSON: use `redactValue`. */
export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRETS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * A JSON value (as `JSON.parse` makes it) with every string in it redacted
 * one by one: object keys and values, array items, at any depth. The shape
 * stays as it was, so every field stays visible: a pattern never spans two
 * fields.
 */
export function redactValue<T>(value: T): T {
  return mapStrings(value, redact);
}

/**
 * A copy of a JSON value with `fn` applied to every string in it, object
 * keys included. Two keys that read the same afterwards both stay, the second
 * with ` (2)` appended. Objects are rebuilt with own data properties only
 * (`__proto__` stays a plain key). Walks with an explicit stack, so a deeply
 * nested value cannot exhaust it.
 */
export function mapStrings<T>(value: T, fn: (text: string) => string): T {
  const clean = (node: unknown): unknown => (typeof node === 'string' ? fn(node) : node);
  if (value === null || typeof value !== 'object') return clean(value) as T;
  const copy = (node: object): unknown[] | Record<string, unknown> => (Array.isArray(node) ? [] : {});
  const root = copy(value);
  const stack: [object, unknown[] | Record<string, unknown>][] = [[value, root]];
  while (stack.length > 0) {
    const [from, to] = stack.pop()!;
    const entries = Array.isArray(from) ? from.map((v, i) => [i, v] as const) : Object.entries(from);
    for (const [rawKey, child] of entries) {
      let out: unknown = clean(child);
      if (child !== null && typeof child === 'object') {
        out = copy(child);
        stack.push([child, out as unknown[] | Record<string, unknown>]);
      }
      if (Array.isArray(to)) {
        to.push(out);
        continue;
      }
      const base = fn(String(rawKey));
      let key = base;
      for (let n = 2; Object.prototype.hasOwnProperty.call(to, key); n++) key = `${base} (${n})`;
      Object.defineProperty(to, key, { value: out, enumerable: true, writable: true, configurable: true });
    }
  }
  return root as T;
}
