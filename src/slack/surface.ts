/**
 * The narrow view of Slack that commands and handlers use. The real one wraps
 * the Web API client; everything above it stays testable without Slack.
 */
import type { KnownBlock, View, WebClient } from '@slack/web-api';
import { fitMessage, fitView } from './limits.ts';

export interface Message {
  readonly text: string;
  readonly blocks?: KnownBlock[];
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

/** The Slack error code of a failed Web API call (`channel_not_found`, ...), or the error's message. */
export function slackErrorCode(error: unknown): string {
  const data = (error as { data?: { error?: string } }).data;
  if (data?.error) return data.error;
  const code = (error as { code?: string }).code;
  if (code === 'slack_webapi_rate_limited_error') return 'ratelimited';
  return error instanceof Error ? error.message : String(error);
}

interface UserLike {
  id?: string;
  is_bot?: boolean;
  deleted?: boolean;
  profile?: { email?: string };
}

const toUser = (u: UserLike): SlackUser => ({
  id: u.id ?? '',
  email: u.profile?.email ?? null,
  isBot: Boolean(u.is_bot),
  deleted: Boolean(u.deleted),
});

export class WebApiSurface implements ChatSurface, UserDirectory {
  constructor(private readonly client: WebClient) {}

  async postDm(userId: string, message: Message): Promise<PostedMessage> {
    // Posting to a user id delivers into the app's DM with that person.
    return this.postMessage(userId, message);
  }

  async postMessage(channel: string, message: Message): Promise<PostedMessage> {
    const fitted = fitMessage(message);
    const result = await this.client.chat.postMessage({ channel, text: fitted.text, blocks: fitted.blocks, unfurl_links: false });
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
      return result.user ? toUser(result.user as UserLike) : null;
    } catch (error) {
      if (slackErrorCode(error) === 'users_not_found') return null;
      throw error;
    }
  }

  async getUser(userId: string): Promise<SlackUser | null> {
    try {
      const result = await this.client.users.info({ user: userId });
      return result.user ? toUser(result.user as UserLike) : null;
    } catch (error) {
      if (slackErrorCode(error) === 'user_not_found') return null;
      throw error;
    }
  }
}
