/**
 * Announces a change of a project's policy rules in its approvals channel:
 * the channel as it is when the job runs (one taken back meanwhile is not
 * posted to), paced like every post to that channel. Slack being down throws,
 * so the queue retries; a refusal that will never succeed (the channel
 * archived, the bot removed) is told to the person who made the change.
 */
import type { Logger } from '../logger.ts';
import { findProjectById } from '../services/access.ts';
import type { ServiceContext } from '../services/context.ts';
import { POLICY_ANNOUNCE_JOB, type PolicyChangeNotice } from '../services/policies.ts';
import { channel as channelRef, code } from '../slack/mrkdwn.ts';
import { slackErrorCode, type ChannelDirectory, type ChatSurface } from '../slack/surface.ts';
import { policyChangeMessage } from '../slack/views/policies.ts';
import { channelSharingCheck } from './channel-sharing.ts';
import type { JobQueue } from './queue.ts';
import { channelScope, isPermanentRefusal, type SlackPacer } from './slack-pace.ts';

export interface PolicyJobDeps {
  readonly services: ServiceContext;
  readonly chat: ChatSurface;
  /** `conversations.info`: the channel is checked for Slack Connect before the announcement goes. */
  readonly channels?: ChannelDirectory;
  readonly log: Logger;
  readonly pacer: SlackPacer;
}

export function registerPolicyHandlers(queue: JobQueue, deps: PolicyJobDeps): void {
  const { services, chat, log, pacer } = deps;
  const sharedWithOutsiders = channelSharingCheck(services, pacer, deps.channels);
  /** Tells the person who made the change that it was not announced, and why; a DM Slack refuses for good is logged. */
  const tellActor = async (jobId: number, notice: PolicyChangeNotice, text: string) => {
    try {
      await pacer.call(jobId, channelScope(notice.actor), () => chat.postDm(notice.actor, { text }));
    } catch (dmError) {
      if (!isPermanentRefusal(dmError)) throw dmError;
      log.warn('policy change refusal not told', { project: notice.project, user: notice.actor });
    }
  };
  queue.register(POLICY_ANNOUNCE_JOB, async (job) => {
    const notice = job.payload as unknown as PolicyChangeNotice;
    const project = await findProjectById(services.db, notice.project);
    // Deleted since, or its channel taken back: nobody is waiting in a channel for this.
    if (!project || project.approvalsChannel === null) return;
    const where = project.approvalsChannel;
    if (await sharedWithOutsiders(job.id, where)) {
      log.warn('policy change not announced: the approvals channel is shared with another organisation', { project: project.id, channel: where });
      await tellActor(
        job.id,
        notice,
        `:warning: Your change to the policy rules of \`${project.name}\` was made, but not announced in ${channelRef(where)}: it is now shared with another organisation (Slack Connect). Set another channel with \`/jamjet projects channel\`.`,
      );
      return;
    }
    const message = policyChangeMessage(project.name, notice);
    try {
      await pacer.call(job.id, channelScope(where), () => chat.postMessage(where, message));
    } catch (error) {
      if (!isPermanentRefusal(error)) throw error;
      const reason = slackErrorCode(error);
      log.warn('policy change not announced', { project: project.id, channel: where, reason });
      await tellActor(
        job.id,
        notice,
        `:warning: Your change to the policy rules of \`${project.name}\` was made, but Slack refused to announce it in ${channelRef(where)} (${code(reason)}); check that channel with \`/jamjet projects channel\`.`,
      );
    }
  });
}
