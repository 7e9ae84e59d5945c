/**
 * Splits slash-command text into words, normalising it the one time it is
 * read: text arrives as people type it on phones and laptops (docs/ARCHITECTURE.md, section 5).
 *
 * - Spacing: non-breaking, narrow, ideographic and other Unicode spaces
 *   separate words like a space; zero-width characters (U+200B-U+200D,
 *   U+2060, U+FEFF) and soft hyphens vanish.
 * - Quotes: straight or curly double quotes (`"` `“` `”` `„` `‟` `«` `»`)
 *   group words, also inside a word (`--name="ci deploy"` is one word,
 *   `--name=ci deploy`); single quotes (`'` `‘` `’`) group only when they
 *   open a word or follow `=`, and close before a space or the end, so an
 *   apostrophe (`don't`) stays a letter. An empty pair is no word at all; a
 *   quote that is never closed is dropped.
 * - Dashes: a word that begins with an em, en, figure or horizontal-bar dash,
 *   a minus sign or two or more hyphens begins with `--` (phones turn `--`
 *   into `—`), so `—name` is `--name`.
 * - Slack's escaping: `<@U123|ann>`, `<#C123|ops>` and `<mailto:a@b.c|a@b.c>`
 *   stay whole, verbatim; `&amp;`, `&lt;` and `&gt;` (the only entities Slack
 *   writes) are decoded, once, everywhere else.
 *
 * Capitalised command words (`Keys Create`) are lowercased by the router,
 * which knows which words name the command.
 *
 * Runs in time linear in the input: every character is visited a bounded
 * number of times, even for input full of unclosed quotes or `<`. `stats`,
 * when given, counts those visits (tests use it to prove the bound).
 */
export function tokenize(text: string, stats?: { steps: number }): string[] {
  const input = normalise(text, stats);
  const n = input.length;
  const tokens: string[] = [];
  let current = '';
  let inWord = false;
  // Where the next closing character is, found once and reused: each search
  // starts where the previous one ended, so all searches together are linear.
  let nextDouble = -2;
  let nextClose = -2;
  let nextSingle = -2;
  const findDouble = (from: number) => {
    if (nextDouble !== -1 && nextDouble < from) nextDouble = scan(input, from, (c) => c === '"', stats);
    return nextDouble;
  };
  const findClose = (from: number) => {
    if (nextClose !== -1 && nextClose < from) nextClose = scan(input, from, (c) => c === '>', stats);
    return nextClose;
  };
  // A closing single quote is one followed by a space or the end.
  const findSingle = (from: number) => {
    if (nextSingle !== -1 && nextSingle < from) {
      nextSingle = scan(input, from, (c, i) => c === "'" && (i + 1 === n || isSpace(input[i + 1]!)), stats);
    }
    return nextSingle;
  };

  const end = () => {
    if (inWord && current.trim() !== '') tokens.push(current);
    current = '';
    inWord = false;
  };

  let i = 0;
  while (i < n) {
    if (stats) stats.steps++;
    const c = input[i]!;
    if (isSpace(c)) {
      end();
      i++;
      continue;
    }
    const atStart = !inWord;
    inWord = true;
    if (c === '"') {
      const close = findDouble(i + 1);
      if (close === -1) {
        i++;
        continue;
      }
      current += decode(input.slice(i + 1, close), stats);
      i = close + 1;
      continue;
    }
    if (c === "'" && (atStart || current.endsWith('='))) {
      const close = findSingle(i + 1);
      if (close !== -1) {
        current += decode(input.slice(i + 1, close), stats);
        i = close + 1;
        continue;
      }
    }
    if (c === '<') {
      const close = findClose(i + 1);
      if (close !== -1) {
        current += input.slice(i, close + 1);
        i = close + 1;
        continue;
      }
    }
    if (c === '&') {
      const entity = entityAt(input, i);
      if (entity) {
        current += entity.char;
        i += entity.length;
        continue;
      }
    }
    current += c;
    i++;
  }
  end();
  return tokens;
}

/** The first index from `from` where `match` holds, or -1. */
function scan(input: string, from: number, match: (c: string, i: number) => boolean, stats?: { steps: number }): number {
  for (let i = from; i < input.length; i++) {
    if (stats) stats.steps++;
    if (match(input[i]!, i)) return i;
  }
  return -1;
}

const ENTITIES: readonly (readonly [string, string])[] = [
  ['&amp;', '&'],
  ['&lt;', '<'],
  ['&gt;', '>'],
];

function entityAt(input: string, i: number): { char: string; length: number } | null {
  for (const [entity, char] of ENTITIES) {
    if (input.startsWith(entity, i)) return { char, length: entity.length };
  }
  return null;
}

/** Decodes Slack's three entities in quoted text, in one pass. */
function decode(text: string, stats?: { steps: number }): string {
  if (!text.includes('&')) return text;
  let out = '';
  for (let i = 0; i < text.length; ) {
    if (stats) stats.steps++;
    const entity = text[i] === '&' ? entityAt(text, i) : null;
    if (entity) {
      out += entity.char;
      i += entity.length;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';

/** Characters that separate words like a space. */
const SPACES = /[\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
/** Characters that are not there at all. */
const INVISIBLE = /[\u00ad\u200b-\u200d\u2060\ufeff]/;
const DOUBLE_QUOTES = /[“”„‟«»″＂]/;
const SINGLE_QUOTES = /[‘’‚‛′]/;
/** Dashes that, opening a word, mean `--`. */
const LONG_DASHES = /[‒–—―−﹘﹣－]/;
const HYPHENS = /[-‐‑]/;

/**
 * One pass over the text: spaces, invisible characters and quotes to their
 * plain forms, and a dash run opening a word to `--` when it is one.
 */
function normalise(text: string, stats?: { steps: number }): string {
  let out = '';
  let wordStart = true;
  for (let i = 0; i < text.length; ) {
    if (stats) stats.steps++;
    const c = text[i]!;
    if (INVISIBLE.test(c)) {
      i++;
      continue;
    }
    if (SPACES.test(c) || isSpace(c)) {
      out += ' ';
      wordStart = true;
      i++;
      continue;
    }
    if (wordStart && (LONG_DASHES.test(c) || HYPHENS.test(c))) {
      let j = i;
      let long = false;
      while (j < text.length && (LONG_DASHES.test(text[j]!) || HYPHENS.test(text[j]!))) {
        if (stats) stats.steps++;
        if (LONG_DASHES.test(text[j]!)) long = true;
        j++;
      }
      out += long || j - i >= 2 ? '--' : '-';
      wordStart = false;
      i = j;
      continue;
    }
    wordStart = false;
    out += DOUBLE_QUOTES.test(c) ? '"' : SINGLE_QUOTES.test(c) ? "'" : c;
    i++;
  }
  return out;
}

export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Record<string, string | true>;
}

/**
 * Separates `--name value`, `--name=value` and boolean `--flag` from
 * positional words. Expects words from `tokenize`, whose dashes and quotes
 * are already plain. `--name=` with nothing after it takes the next word.
 */
export function splitArgs(tokens: readonly string[], booleanFlags: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const flag = /^--([a-z][a-z0-9-]*)(?:=([\s\S]*))?$/i.exec(token);
    if (!flag) {
      positionals.push(token);
      continue;
    }
    const name = flag[1]!.toLowerCase();
    const value = flag[2] === '' ? undefined : flag[2];
    if (value !== undefined) flags[name] = value;
    else if (booleanFlags.has(name)) flags[name] = true;
    else if (i + 1 < tokens.length && !/^--/.test(tokens[i + 1]!)) flags[name] = tokens[++i]!;
    else flags[name] = true;
  }
  return { positionals, flags };
}
