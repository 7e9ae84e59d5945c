/**
 * The narrow view of Slack that commands and handlers use. The real one wraps
 * the Web API client; everything above it stays testable without Slack.
 */
import type { KnownBlock, View, WebClient } from '@slack/web-api';
import { fitMessage, fitView } from './limits.ts';
import type { HomeTeam } from './who-may-use.ts';

export interface Message {
  readonly text: string;
  readonly blocks?: KnownBlock[];
  /** Post as a reply in this message's thread (Slack's `thread_ts`); only for `postMessage`. */
  readonly threadTs?: string;
}

export interface PostedMessage {
  readonly channel: string;
  readonly ts: string;
}

export interface SlackUser {
  readonly id: string;
  readonly email: string | null;
  readonly isBot: boolean;
  readonly deleted: boolean;
  /** A Slack guest (`is_restricted` or `is_ultra_restricted`). */
  readonly isGuest: boolean;
  /**
   * From another organisation (Slack Connect): `is_stranger`, or neither the
   * bot's workspace (`team_id`) nor its Enterprise Grid organisation
   * (`enterprise_user.enterprise_id`).
   */
  readonly isExternal: boolean;
}

export interface ChatSurface {
  /** A direct message from the app to one person. */
  postDm(userId: string, message: Message): Promise<PostedMessage>;
  postMessage(channel: string, message: Message): Promise<PostedMessage>;
  updateMessage(at: PostedMessage, message: Message): Promise<void>;
  openModal(triggerId: string, view: View): Promise<void>;
  publishHome(userId: string, view: View): Promise<void>;
}

export interface UserDirectory {
  /** null when no one in the workspace has that address. */
  lookupByEmail(email: string): Promise<SlackUser | null>;
  /** null when the id names no one in the workspace. */
  getUser(userId: string): Promise<SlackUser | null>;
}

/** A channel as `conversations.info` describes it to the bot. */
export interface SlackChannel {
  readonly id: string;
  readonly isArchived: boolean;
  /** Whether the bot itself is in the channel. */
  readonly botIsMember: boolean;
  /** Shared with another organisation (Slack Connect), or an invitation to share it is pending. */
  readonly isExternal: boolean;
  /** A direct message or group DM rather than a channel. */
  readonly isDirect: boolean;
}

/** What the bot can learn about a channel before it relies on it. */
export interface ChannelDirectory {
  /**
   * `conversations.info`; null when Slack answers `channel_not_found` (no such
   * channel, or a private one the bot is not in). Other Slack errors throw.
   */
  getChannel(channelId: string): Promise<SlackChannel | null>;
  /**
   * Whether `userId` is in the channel: `conversations.members`, page by page
   * (Slack's `cursor`), stopping at the first page that names them.
   */
  isChannelMember(channelId: string, userId: string): Promise<boolean>;
}

/** The Slack error code of a failed Web API call (`channel_not_found`, ...), or the error's message. */
export function slackErrorCode(error: unknown): string {
  const data = (error as { data?: { error?: string } }).data;
  if (data?.error) return data.error;
  const code = (error as { code?: string }).code;
  if (code === 'slack_webapi_rate_limited_error') return 'ratelimited';
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs a Web API call made for someone who is waiting (their DM, their App
 * Home): a 429 whose Retry-After (seconds, the `retryAfter` of
 * @slack/web-api's rate-limit error) fits in what is left of `patienceMs` is
 * waited out and the call made again. Other failures, and a longer wait,
 * throw as they came. Not for jobs: they leave the wait to the pacer.
 */
export async function patiently<T>(call: () => Promise<T>, patienceMs: number): Promise<T> {
  let waited = 0;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      const retryAfter = (error as { retryAfter?: unknown }).retryAfter;
      if (typeof retryAfter !== 'number') throw error;
      const ms = Math.max(1, retryAfter) * 1000;
      if (waited + ms > patienceMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, ms));
      waited += ms;
    }
  }
}

interface UserLike {
  id?: string;
  is_bot?: boolean;
  deleted?: boolean;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_stranger?: boolean;
  team_id?: string;
  enterprise_user?: { enterprise_id?: string };
  profile?: { email?: string };
}

/** Whether a `users.info` user belongs to the bot's own workspace or organisation (the rule of who-may-use.ts). */
const atHome = (u: UserLike, home: HomeTeam): boolean =>
  !u.is_stranger &&
  ((u.team_id !== undefined && u.team_id === home.teamId) ||
    (home.enterpriseId !== null && u.enterprise_user?.enterprise_id === home.enterpriseId));

const toUser = (u: UserLike, home: HomeTeam | null): SlackUser => ({
  id: u.id ?? '',
  email: u.profile?.email ?? null,
  // Slack describes Slackbot with `is_bot: false`; it is no person all the same.
  isBot: Boolean(u.is_bot) || u.id === 'USLACKBOT',
  deleted: Boolean(u.deleted),
  isGuest: Boolean(u.is_restricted || u.is_ultra_restricted),
  isExternal: home ? !atHome(u, home) : Boolean(u.is_stranger),
});

interface ChannelLike {
  id?: string;
  is_archived?: boolean;
  is_member?: boolean;
  is_ext_shared?: boolean;
  is_pending_ext_shared?: boolean;
  is_im?: boolean;
  is_mpim?: boolean;
}

/** Members asked for per `conversations.members` page (Slack allows up to 1,000; it recommends 200 or fewer). */
const MEMBERS_PAGE = 200;

export class WebApiSurface implements ChatSurface, UserDirectory, ChannelDirectory {
  /** `home`: the bot's workspace and organisation (`auth.test`), against which people are told apart from Slack Connect visitors. */
  constructor(
    private readonly client: WebClient,
    private readonly home: HomeTeam | null = null,
  ) {}

  async postDm(userId: string, message: Message): Promise<PostedMessage> {
    // Posting to a user id delivers into the app's DM with that person.
    return this.postMessage(userId, message);
  }

  async postMessage(channel: string, message: Message): Promise<PostedMessage> {
    const fitted = fitMessage(message);
    const thread = message.threadTs === undefined ? {} : { thread_ts: message.threadTs };
    const result = await this.client.chat.postMessage({ channel, text: fitted.text, blocks: fitted.blocks, unfurl_links: false, ...thread });
    return { channel: result.channel ?? channel, ts: result.ts ?? '' };
  }

  async updateMessage(at: PostedMessage, message: Message): Promise<void> {
    const fitted = fitMessage(message);
    await this.client.chat.update({ channel: at.channel, ts: at.ts, text: fitted.text, blocks: fitted.blocks ?? [] });
  }

  async openModal(triggerId: string, view: View): Promise<void> {
    await this.client.views.open({ trigger_id: triggerId, view: fitView(view) });
  }

  async publishHome(userId: string, view: View): Promise<void> {
    await this.client.views.publish({ user_id: userId, view: fitView(view) });
  }

  async lookupByEmail(email: string): Promise<SlackUser | null> {
    try {
      const result = await this.client.users.lookupByEmail({ email });
      return result.user ? toUser(result.user as UserLike, this.home) : null;
    } catch (error) {
      if (slackErrorCode(error) === 'users_not_found') return null;
      throw error;
    }
  }

  async getChannel(channelId: string): Promise<SlackChannel | null> {
    try {
      const result = await this.client.conversations.info({ channel: channelId });
      const c = (result.channel ?? {}) as ChannelLike;
      return {
        id: c.id ?? channelId,
        isArchived: Boolean(c.is_archived),
        botIsMember: Boolean(c.is_member),
        isExternal: Boolean(c.is_ext_shared || c.is_pending_ext_shared),
        isDirect: Boolean(c.is_im || c.is_mpim),
      };
    } catch (error) {
      if (slackErrorCode(error) === 'channel_not_found') return null;
      throw error;
    }
  }

  async isChannelMember(channelId: string, userId: string): Promise<boolean> {
    let cursor: string | undefined;
    do {
      const page = await this.client.conversations.members({ channel: channelId, limit: MEMBERS_PAGE, ...(cursor ? { cursor } : {}) });
      if ((page.members ?? []).includes(userId)) return true;
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (cursor);
    return false;
  }

  async getUser(userId: string): Promise<SlackUser | null> {
    try {
      const result = await this.client.users.info({ user: userId });
      return result.user ? toUser(result.user as UserLike, this.home) : null;
    } catch (error) {
      if (slackErrorCode(error) === 'user_not_found') return null;
      throw error;
    }
  }
}
