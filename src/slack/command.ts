/**
 * What a `/jamjet` subcommand is: its grammar, its argument schema and a run
 * function that turns validated arguments into a reply. Files in `commands/`
 * define one each; the router does the rest.
 */
import type { KnownBlock } from '@slack/web-api';
import type { z } from 'zod';
import type { AppError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';
import type { Actor, ServiceContext } from '../services/context.ts';
import type { SecretStore } from '../github/types.ts';
import type { GitHubPorts } from '../services/github-connections.ts';
import type { ChannelDirectory, ChatSurface, Message, UserDirectory } from './surface.ts';

/** Sends a further reply to the person who ran the command (Slack's response_url). */
export type Responder = (message: Message) => Promise<void>;

export interface Reply {
  readonly text: string;
  readonly blocks?: KnownBlock[];
  /** Announce in the channel; replies are only for the person otherwise. */
  readonly inChannel?: boolean;
  /** Slower work (DMs, GitHub) that runs after Slack has the reply. */
  readonly followUp?: (respond: Responder) => Promise<void>;
}

export interface CommandContext {
  readonly actor: Actor;
  readonly services: ServiceContext;
  readonly chat: ChatSurface;
  readonly users: UserDirectory;
  readonly channels: ChannelDirectory;
  readonly secrets: SecretStore;
  /** GitHub on a person's behalf (device flow, their permissions) and the token sealer. */
  readonly github: GitHubPorts;
  readonly channelId: string;
  readonly triggerId: string;
  readonly log: Logger;
  readonly catalog: readonly AnyCommand[];
  /** Runs due jobs now (an announcement just enqueued), without waiting for the next poll; absent where no queue runs. */
  readonly kick?: () => void;
}

export type Outcome = Reply | AppError | null;

export interface CommandDefinition<S extends z.ZodType = z.ZodType> {
  readonly group: string;
  /** Absent for one-verb groups such as `whoami` and `audit`. */
  readonly verb?: string;
  /** The usage line without `/jamjet `. */
  readonly usage: string;
  readonly summary: string;
  /** Positional argument names in order; a trailing `?` marks an optional one. */
  readonly positionals: readonly string[];
  /** Flags by name: `value` takes the next word, `boolean` stands alone. */
  readonly flags?: Readonly<Record<string, 'value' | 'boolean'>>;
  /** Validates positionals (by name) and flags (camelCased). */
  readonly schema: S;
  run(ctx: CommandContext, args: z.infer<S>): Promise<Outcome> | Outcome;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a catalog holds commands of every argument shape
export type AnyCommand = CommandDefinition<any>;

export function defineCommand<S extends z.ZodType>(definition: CommandDefinition<S>): CommandDefinition<S> {
  return definition;
}

export function isError(outcome: Outcome): outcome is AppError {
  return outcome !== null && 'code' in outcome;
}
