/**
 * Whether an approvals channel is shared with another organisation (Slack
 * Connect), asked of Slack when something is about to be posted there, not
 * only when the channel was set: people outside the organisation have no
 * access to a project (docs/ARCHITECTURE.md, sections 4 and 15), so neither
 * cards nor announcements of what its agents did may reach them.
 */
import type { ServiceContext } from '../services/context.ts';
import { slackErrorCode, type ChannelDirectory } from '../slack/surface.ts';
import { isPermanentRefusal, methodScope, type SlackPacer } from './slack-pace.ts';

/** How long a channel's sharing, as Slack told it, is trusted before a post asks again, in milliseconds. */
export const SHARING_TTL_MS = 60_000;

/** Answers whether `channel` is shared outside the organisation, for the job `jobId` about to post there. */
export type SharingCheck = (jobId: number, channel: string) => Promise<boolean>;

/**
 * A check that asks Slack's `conversations.info` (through the pacer, as job
 * `jobId`) and remembers each answer for `SHARING_TTL_MS`, so a burst of
 * posts asks once. Without a `directory`, or when the app lacks the channel
 * scopes (`missing_scope`) or Slack refuses for good (a channel it cannot
 * find is left to the post to report), it answers false and posts go as
 * before. An outage throws, so the job is retried like the post itself.
 */
export function channelSharingCheck(services: Pick<ServiceContext, 'now'>, pacer: SlackPacer, directory: ChannelDirectory | undefined): SharingCheck {
  const sharing = new Map<string, { external: boolean; at: number }>();
  return async (jobId, channel) => {
    if (!directory) return false;
    const known = sharing.get(channel);
    if (known && services.now() - known.at < SHARING_TTL_MS) return known.external;
    try {
      const info = await pacer.call(jobId, methodScope('conversations.info'), () => directory.getChannel(channel));
      const external = info?.isExternal === true;
      if (sharing.size >= 1000) sharing.clear();
      sharing.set(channel, { external, at: services.now() });
      return external;
    } catch (error) {
      if (slackErrorCode(error) === 'missing_scope' || isPermanentRefusal(error)) return false;
      throw error;
    }
  };
}
