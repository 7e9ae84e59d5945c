/**
 * Policy rules as the JamJet SDKs enforce them (docs/ARCHITECTURE.md, sections 1, 5 and 8):
 * an ordered list of `block`, `allow` and `require_approval` rules over
 * tool-name globs; the first rule whose glob matches a tool's name decides,
 * and a tool no rule matches is allowed.
 *
 * Where the semantics come from: the Python SDK matches with `fnmatch`
 * (case-sensitive on POSIX; `*` any run of characters, dots included; `?` one
 * character; `[seq]` and `[!seq]` classes), the TypeScript SDK with its own
 * glob that knows only `*` and `?` and reads `[` literally, over UTF-16 code
 * units. A pattern is accepted only when both read it the same way: ASCII
 * tool-name characters, `*` and `?`, and nothing else.
 */
import { randomBytes } from 'node:crypto';
import { redact } from './secrets.ts';

export const POLICY_ACTIONS = ['block', 'allow', 'require_approval'] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];

export function isPolicyAction(value: string): value is PolicyAction {
  return (POLICY_ACTIONS as readonly string[]).includes(value);
}

/** Longest glob accepted, in characters (tool names of MCP servers and SDK adapters are far shorter). */
export const PATTERN_MAX = 200;

/** Characters of a glob besides its wildcards: what tool names are made of (letters, digits, `_ - . : / @`). */
const NAME_CHAR = /^[A-Za-z0-9_.:/@-]$/;

/**
 * Most `*` in one glob. The TypeScript SDK turns each `*` into a backtracking
 * `.*`: a glob with many stars that fails to match a long tool name takes
 * time growing like the name's length to the power of the stars (measured:
 * `*a*a*a*a*a*a*a*a*b` against 60 `a`s runs for minutes), in the agent's own
 * process. Three stars keep every SDK's check instant for any tool name.
 */
export const STARS_MAX = 3;

/** The sentence that says what a glob may hold, for refusals. */
export const PATTERN_RULE = `A tool glob is 1 to ${PATTERN_MAX} characters: letters, digits, \`_ - . : / @\`, and the wildcards \`*\` (any run of characters, at most ${STARS_MAX}) and \`?\` (one character).`;

/** How a character is named in a refusal: printable ASCII as itself, anything else by its code point. */
function describeChar(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp > 0x20 && cp < 0x7f) return `\`${ch}\``;
  if (cp === 0x20) return 'a space';
  return `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Checks a tool-name glob. Returns null when both SDKs read it the same way,
 * otherwise one sentence saying what is wrong (the caller adds the usage).
 * Refused: the empty glob, one longer than `PATTERN_MAX`, `[` and `]`
 * (a class for Python's fnmatch, literal characters for the TypeScript SDK),
 * whitespace, control and other non-ASCII characters (Python's `?` takes one
 * code point, the TypeScript SDK's one UTF-16 unit), and every other
 * character no tool name holds (`\`, quotes, `{}`, ...), `**`, and more than
 * `STARS_MAX` stars, and a glob holding an API key or token.
 */
export function patternProblem(pattern: string): string | null {
  if (pattern.length === 0) return `The tool glob is empty. ${PATTERN_RULE}`;
  if (pattern.length > PATTERN_MAX) return `The tool glob is ${pattern.length} characters long. ${PATTERN_RULE}`;
  for (const ch of pattern) {
    if (ch === '*' || ch === '?' || NAME_CHAR.test(ch)) continue;
    if (ch === '[' || ch === ']') {
      return `The tool glob holds ${describeChar(ch)}: the SDKs disagree on it (a character class in Python, a plain character in TypeScript). ${PATTERN_RULE}`;
    }
    return `The tool glob holds ${describeChar(ch)}, which no tool name has. ${PATTERN_RULE}`;
  }
  // A key or token pasted as a glob would be stored, listed, announced and sent to every SDK.
  if (redact(pattern) !== pattern) return 'The tool glob holds an API key or token, so it cannot be a rule; nothing was stored.';
  if (pattern.includes('**')) return `The tool glob holds \`**\`; one \`*\` already matches any run of characters. ${PATTERN_RULE}`;
  const stars = [...pattern].filter((ch) => ch === '*').length;
  if (stars > STARS_MAX) return `The tool glob has ${stars} \`*\`; the SDKs check a glob with more than ${STARS_MAX} too slowly. ${PATTERN_RULE}`;
  return null;
}

/**
 * Whether `name` matches `pattern` with fnmatch semantics (`*` any run,
 * dots included; `?` exactly one character; case-sensitive), for patterns
 * `patternProblem` accepts. Iterative with backtracking to the last `*`, so
 * a pattern full of stars takes time proportional to pattern × name, never
 * exponential.
 */
export function globMatches(pattern: string, name: string): boolean {
  const p = [...pattern];
  const s = [...name];
  let i = 0;
  let j = 0;
  let star = -1;
  let mark = 0;
  while (j < s.length) {
    if (i < p.length && (p[i] === '?' || (p[i] !== '*' && p[i] === s[j]))) {
      i++;
      j++;
    } else if (i < p.length && p[i] === '*') {
      star = i++;
      mark = j;
    } else if (star >= 0) {
      i = star + 1;
      j = ++mark;
    } else {
      return false;
    }
  }
  while (i < p.length && p[i] === '*') i++;
  return i === p.length;
}

export interface RuleLike {
  readonly action: PolicyAction;
  readonly pattern: string;
}

/** The first rule (in precedence order) whose glob matches `tool`, or null: no rule, so the SDKs allow it. */
export function firstMatch<R extends RuleLike>(rules: readonly R[], tool: string): R | null {
  return rules.find((r) => globMatches(r.pattern, tool)) ?? null;
}

/** The id people type and the SDKs receive: `pol_` + 8 hex. */
export function newRuleId(): string {
  return `pol_${randomBytes(4).toString('hex')}`;
}

export const RULE_ID_PATTERN = /^pol_[0-9a-f]{8}$/;
