/**
 * The one `/jamjet` router: group, verb, positional arguments and `--flags`,
 * validated by the command's schema. Every refusal is one sentence and the
 * usage line.
 */
import { randomUUID } from 'node:crypto';
import { closest } from '../core/suggest.ts';
import { isError, type AnyCommand, type CommandContext, type Reply } from './command.ts';
import { code } from './mrkdwn.ts';
import { slackErrorCode } from './surface.ts';
import { splitArgs, tokenize } from './tokenize.ts';

const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function usageLine(usage: string): string {
  return `Usage: \`/jamjet ${usage}\``;
}

export function refusal(message: string, usage: string): Reply {
  return { text: `:warning: ${message}\n${usageLine(usage)}` };
}

export class CommandRouter {
  private readonly byGroup = new Map<string, AnyCommand[]>();

  constructor(readonly catalog: readonly AnyCommand[]) {
    for (const command of catalog) {
      const list = this.byGroup.get(command.group) ?? [];
      list.push(command);
      this.byGroup.set(command.group, list);
    }
  }

  get groups(): string[] {
    return [...this.byGroup.keys()];
  }

  /** Finds the command `text` names, or the refusal that says why none matches. */
  resolve(text: string): { command: AnyCommand; rest: string[] } | Reply {
    const tokens = tokenize(text);
    const groupWord = (tokens[0] ?? 'help').toLowerCase();
    const commands = this.byGroup.get(groupWord);
    if (!commands) {
      const suggestion = closest(groupWord, this.groups);
      const hint = suggestion ? ` Did you mean ${code(suggestion)}?` : '';
      return refusal(`There is no command ${code(groupWord)}.${hint}`, 'help');
    }
    const single = commands.find((c) => c.verb === undefined);
    if (single) return { command: single, rest: tokens.slice(1) };

    const verbs = commands.map((c) => c.verb!);
    const verbWord = tokens[1]?.toLowerCase();
    const groupUsage = `${groupWord} ${verbs.join('|')} ...`;
    if (!verbWord) return refusal(`Say what to do with ${code(groupWord)}: ${verbs.join(', ')}.`, groupUsage);
    const command = commands.find((c) => c.verb === verbWord);
    if (!command) {
      const suggestion = closest(verbWord, verbs);
      const hint = suggestion ? ` Did you mean ${code(`${groupWord} ${suggestion}`)}?` : '';
      return refusal(`${code(groupWord)} has no ${code(verbWord)}.${hint}`, groupUsage);
    }
    return { command, rest: tokens.slice(2) };
  }

  /** Parses the arguments of `command`; a sentence when they do not fit. */
  parse(command: AnyCommand, rest: readonly string[]): { args: unknown } | { error: string } {
    const flags = command.flags ?? {};
    const booleans = new Set(Object.entries(flags).filter(([, kind]) => kind === 'boolean').map(([name]) => name));
    const { positionals, flags: given } = splitArgs(rest, booleans);

    const input: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(given)) {
      const kind = Object.hasOwn(flags, name) ? flags[name] : undefined;
      if (!kind) return { error: `${code(`--${name}`)} is not an option of this command.` };
      if (kind === 'value' && value === true) return { error: `${code(`--${name}`)} needs a value.` };
      if (kind === 'boolean' && value !== true) return { error: `${code(`--${name}`)} takes no value.` };
      input[camel(name)] = value;
    }
    const names = command.positionals;
    const required = names.filter((n) => !n.endsWith('?'));
    if (positionals.length < required.length) {
      return { error: `Missing ${required.slice(positionals.length).map((n) => `<${n}>`).join(' ')}.` };
    }
    if (positionals.length > names.length) {
      return { error: `Unexpected ${code(positionals.slice(names.length).join(' '))}.` };
    }
    names.forEach((name, i) => {
      if (i < positionals.length) input[name.replace(/\?$/, '')] = positionals[i];
    });
    const parsed = command.schema.safeParse(input);
    if (!parsed.success) return { error: parsed.error.issues[0]?.message ?? 'Those arguments do not fit.' };
    return { args: parsed.data };
  }

  async handle(ctx: CommandContext, text: string): Promise<Reply | null> {
    const resolved = this.resolve(text);
    if ('text' in resolved) return resolved;
    const { command, rest } = resolved;
    const parsed = this.parse(command, rest);
    if ('error' in parsed) return refusal(parsed.error, command.usage);
    try {
      const outcome = await command.run(ctx, parsed.args);
      if (isError(outcome)) return refusal(outcome.message, command.usage);
      return outcome;
    } catch (error) {
      const reference = randomUUID().slice(0, 8);
      ctx.log.error('command failed', { command: `${command.group} ${command.verb ?? ''}`.trim(), reference, error });
      return failureReply(error, reference);
    }
  }
}

/** What the person sees when Slack or the bot itself failed underneath them. */
export function failureReply(error: unknown, reference: string): Reply {
  const slack = (error as { data?: { error?: string } }).data?.error;
  // @slack/web-api's rate-limit error carries no `data`, only Slack's Retry-After in seconds.
  const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
  if (typeof retryAfter === 'number') {
    return {
      text: `:hourglass: Slack asked JamJet to slow down (${code('ratelimited')}) while running that command (reference ${code(reference)}); try again in ${Math.max(1, Math.ceil(retryAfter))} s. The audit trail shows what, if anything, changed.`,
    };
  }
  const cause = slack ? `Slack refused a request (${code(slackErrorCode(error))})` : 'Something went wrong on our side';
  return {
    text: `:x: ${cause} while running that command (reference ${code(reference)}). The audit trail shows what, if anything, changed; try again in a moment.`,
  };
}
