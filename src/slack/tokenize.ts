/**
 * Splits slash-command text into words. Double or curly quotes group words;
 * Slack's entities (`<@U1|ann>`, `<#C1|ops>`, `<mailto:...>`) stay whole.
 */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const pattern = /<[^>]*>|["“”]([^"“”]*)["“”]|[^\s"“”<]+/g;
  for (const match of text.matchAll(pattern)) {
    const token = match[1] ?? match[0];
    // An empty pair of quotes is no argument at all.
    if (token.trim() !== '') tokens.push(token);
  }
  return tokens;
}

export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Record<string, string | true>;
}

/** Separates `--name value`, `--name=value` and boolean `--flag` from positional words. */
export function splitArgs(tokens: readonly string[], booleanFlags: ReadonlySet<string>): ParsedArgs {
  const positionals: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const flag = /^(?:--|—|–)([a-z][a-z0-9-]*)(?:=(.*))?$/i.exec(token);
    if (!flag) {
      positionals.push(token);
      continue;
    }
    const name = flag[1]!.toLowerCase();
    if (flag[2] !== undefined) flags[name] = flag[2];
    else if (booleanFlags.has(name)) flags[name] = true;
    else if (i + 1 < tokens.length && !/^(--|—|–)/.test(tokens[i + 1]!)) flags[name] = tokens[++i]!;
    else flags[name] = true;
  }
  return { positionals, flags };
}
