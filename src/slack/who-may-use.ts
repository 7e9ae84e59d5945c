/**
 * Who may use the bot at all (docs/ARCHITECTURE.md, section 4): full members of the
 * workspace (or of its Enterprise Grid organisation) only. Slack guests
 * (`is_restricted`, `is_ultra_restricted`), deactivated accounts
 * (`deleted`), bots and people from another organisation (Slack Connect:
 * their `team_id` and enterprise differ from the bot's) get one sentence and
 * nothing else: no command, not even `projects create`, no button, no modal,
 * no App Home.
 *
 * The person who acts is looked up with `users.info` (scope `users:read`),
 * whose answer is parsed, never trusted blindly; answers are kept for a few
 * minutes per person so that commands stay fast. When Slack does not answer,
 * the request is refused with a sentence to try again (fail closed).
 */
import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import type { View } from '@slack/web-api';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { slackErrorCode } from './surface.ts';

export type Standing = 'member' | 'guest' | 'deactivated' | 'bot' | 'external' | 'unknown' | 'unavailable';

/** What the refused person reads: one sentence each. */
export const REFUSALS: Record<Exclude<Standing, 'member'>, string> = {
  guest: 'Slack guests cannot use JamJet; ask a full member of this workspace to do it for you.',
  deactivated: 'Your Slack account is deactivated, so JamJet does not act for it.',
  bot: 'Apps and bots cannot use JamJet.',
  external: 'JamJet serves only the people of its own Slack organisation, and your account belongs to another one.',
  unknown: 'Slack does not know your account in this workspace, so JamJet does not act for it.',
  unavailable: 'Slack did not say who you are just now, so nothing was done; try again in a moment.',
};

/** How long an answer of `users.info` is kept per person. */
export const STANDING_TTL_MS = 2 * 60_000;
/** People remembered at most; past that the oldest answer is dropped. */
const MAX_REMEMBERED = 10_000;

/** The fields of a `users.info` user object this check reads (Slack's names). */
const SlackAccount = z.object({
  id: z.string(),
  team_id: z.string().optional(),
  deleted: z.boolean().optional(),
  is_bot: z.boolean().optional(),
  is_restricted: z.boolean().optional(),
  is_ultra_restricted: z.boolean().optional(),
  is_stranger: z.boolean().optional(),
  enterprise_user: z.object({ enterprise_id: z.string().optional() }).optional(),
});

/** The bot's own workspace and Enterprise Grid organisation, from `auth.test`. */
export interface HomeTeam {
  readonly teamId: string;
  readonly enterpriseId: string | null;
}

/** Reads a `users.info` answer's `user` against the bot's own workspace and organisation. */
export function standingOf(user: unknown, identity: HomeTeam): Standing {
  const parsed = SlackAccount.safeParse(user);
  if (!parsed.success) return 'unknown';
  const account = parsed.data;
  if (account.deleted) return 'deactivated';
  if (account.is_bot || account.id === 'USLACKBOT') return 'bot';
  if (account.is_restricted || account.is_ultra_restricted) return 'guest';
  if (account.is_stranger) return 'external';
  const sameTeam = account.team_id !== undefined && account.team_id === identity.teamId;
  const enterprise = account.enterprise_user?.enterprise_id;
  const sameOrg = identity.enterpriseId !== null && enterprise === identity.enterpriseId;
  return sameTeam || sameOrg ? 'member' : 'external';
}

/** `users.info` for one user id: resolves to the answer's `user`, rejects with Slack's error. */
export type AccountLookup = (userId: string) => Promise<unknown>;

/** The standing of each person who acts, from `users.info`, remembered briefly. */
export class Standings {
  private readonly known = new Map<string, { standing: Standing; at: number }>();
  private readonly asking = new Map<string, Promise<Standing>>();

  constructor(
    private readonly lookup: AccountLookup,
    private readonly identity: HomeTeam,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** Never rejects: a Slack failure is `unavailable`, and is not remembered. */
  async of(userId: string): Promise<Standing> {
    const known = this.known.get(userId);
    const at = this.now();
    if (known && at - known.at >= 0 && at - known.at < STANDING_TTL_MS) return known.standing;
    const pending = this.asking.get(userId);
    if (pending) return pending;
    const asked = this.ask(userId).finally(() => this.asking.delete(userId));
    this.asking.set(userId, asked);
    return asked;
  }

  private async ask(userId: string): Promise<Standing> {
    let standing: Standing;
    try {
      standing = standingOf(await this.lookup(userId), this.identity);
    } catch (error) {
      const code = slackErrorCode(error);
      if (code !== 'user_not_found') {
        this.log.warn('could not look up who is acting', { user: userId, error });
        return 'unavailable';
      }
      standing = 'unknown';
    }
    if (this.known.size >= MAX_REMEMBERED) this.known.delete(this.known.keys().next().value!);
    this.known.delete(userId);
    this.known.set(userId, { standing, at: this.now() });
    return standing;
  }
}

/** Who acts in a request Bolt received, by the payload's kind. */
const Acting = z.union([
  // Slash commands.
  z.object({ command: z.string(), user_id: z.string() }).transform((b) => ({ kind: 'command' as const, userId: b.user_id })),
  // Buttons, modals, options, shortcuts.
  z
    .object({ type: z.string(), user: z.object({ id: z.string() }) })
    .transform((b) => ({ kind: 'interaction' as const, type: b.type, userId: b.user.id })),
  // Events with a person in them (app_home_opened).
  z
    .object({ type: z.literal('event_callback'), event: z.object({ type: z.string(), user: z.string(), tab: z.string().optional() }) })
    .transform((b) => ({ kind: 'event' as const, type: b.event.type, tab: b.event.tab, userId: b.event.user })),
]);

/** App Home for someone refused: the sentence and nothing else. */
export function refusedHome(sentence: string): View {
  return { type: 'home', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:no_entry: ${sentence}` } }] };
}

/**
 * Bolt middleware: lets a request on only when the person acting is a full
 * member of this workspace or organisation; otherwise answers the sentence
 * where they acted (the command's reply, ephemerally under the message, a
 * modal, App Home) and stops. Requests with no person in them (events about
 * the app itself) go on.
 */
export function whoMayUse(
  standings: Standings,
  publishHome: (userId: string, view: View) => Promise<void>,
  log: Logger,
): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const acting = Acting.safeParse(args.body);
    if (!acting.success) {
      await args.next();
      return;
    }
    const who = acting.data;
    const standing = await standings.of(who.userId);
    if (standing === 'member') {
      await args.next();
      return;
    }
    const sentence = REFUSALS[standing];
    log.warn('request refused: not a full member', { user: who.userId, standing });
    const ack = 'ack' in args && typeof args.ack === 'function' ? (args.ack as (response?: unknown) => Promise<void>) : null;
    if (who.kind === 'command') {
      await ack?.({ response_type: 'ephemeral', text: `:no_entry: ${sentence}` });
      return;
    }
    if (who.kind === 'event') {
      if (who.type === 'app_home_opened' && who.tab === 'home') {
        await publishHome(who.userId, refusedHome(sentence)).catch((error: unknown) => {
          log.warn('could not tell a refused person why', { user: who.userId, error });
        });
      }
      return;
    }
    switch (who.type) {
      case 'view_submission':
        await ack?.({
          response_action: 'update',
          view: {
            type: 'modal',
            title: { type: 'plain_text', text: 'JamJet' },
            close: { type: 'plain_text', text: 'Close' },
            blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:no_entry: ${sentence}` } }],
          },
        });
        return;
      case 'block_suggestion':
        await ack?.({ options: [] });
        return;
      default: {
        await ack?.();
        const body = args.body as { response_url?: unknown; view?: { type?: unknown } };
        const respond = 'respond' in args && typeof args.respond === 'function' ? (args.respond as (message: unknown) => Promise<unknown>) : null;
        try {
          if (body.view?.type === 'home') await publishHome(who.userId, refusedHome(sentence));
          else if (typeof body.response_url === 'string' && respond) {
            await respond({ response_type: 'ephemeral', replace_original: false, text: `:no_entry: ${sentence}` });
          }
        } catch (error) {
          log.warn('could not tell a refused person why', { user: who.userId, error });
        }
      }
    }
  };
}
