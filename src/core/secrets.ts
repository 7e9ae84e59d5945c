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
];

/**
 * A private key's armour line, PEM (`RSA`, `EC`, `OPENSSH`, `ENCRYPTED`, ...)
 * or OpenPGP (`PGP PRIVATE KEY BLOCK`). The words around `PRIVATE KEY` are
 * bounded, so a hostile run of capitals cannot make the match quadratic.
 */
const KEY_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----/g;
const KEY_END = /-----END [A-Z0-9 ]{0,40}PRIVATE KEY[A-Z ]{0,20}-----/g;

/**
 * Characters that show as nothing: a key with one inside it reads as a whole
 * key on a card, so they are dropped before secrets are looked for.
 */
const INVISIBLE = /[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * Blanks every private key from its armour's start line to its end line, or
 * to the end of the text when the end line is missing (a key cut off is
 * still a secret). Each start and end is searched for once from where the
 * previous one stopped, so the time is linear in the text.
 */
function blankPrivateKeys(text: string): string {
  if (!text.includes('-----BEGIN ')) return text;
  let out = '';
  let from = 0;
  for (;;) {
    KEY_BEGIN.lastIndex = from;
    const begin = KEY_BEGIN.exec(text);
    if (!begin) break;
    out += `${text.slice(from, begin.index)}[redacted private key]`;
    KEY_END.lastIndex = begin.index + begin[0].length;
    const end = KEY_END.exec(text);
    if (!end) return out;
    from = end.index + end[0].length;
  }
  return out + text.slice(from);
}

/**
 * One piece of text with every secret in it blanked, and with characters
 * that show as nothing (zero-width spaces, direction marks) dropped, so a key
 * split by one is still found. Never run it over serialised JSON: use
 * `redactValue`.
 */
export function redact(text: string): string {
  let out = blankPrivateKeys(text.replace(INVISIBLE, ''));
  for (const [pattern, replacement] of SECRETS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * Text a person or an agent sent, ready to store: `redact`ed, and each NUL
 * (U+0000) shown as U+FFFD, since PostgreSQL refuses NUL in text (SQLite
 * would keep it), so the same request is kept alike on both engines.
 */
export function storableText(text: string): string {
  return redact(text).replaceAll('\u0000', '\ufffd');
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
