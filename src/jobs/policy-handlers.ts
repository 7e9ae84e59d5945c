/**
 * Announces a change of a project's policy rules (`policies.announce`) or of
 * one of its settings (`projects.announce_setting`, from `/jamjet projects
 * set`) in its approvals channel: the channel as it is when the job runs (one
 * taken back meanwhile is not posted to), paced like every post to that
 * channel, and not posted to once it is shared with another organisation
 * (Slack Connect). A setting changed again before its announcement went is
 * announced only by the later change (the value in force). Slack being down
 * throws, so the queue retries; a refusal that will never succeed (the
 * channel archived, the bot removed) or a shared channel is told to the
 * person who made the change, by DM.
 */
import type { Logger } from '../logger.ts';
import { findProjectById, type Project } from '../services/access.ts';
import type { ServiceContext } from '../services/context.ts';
import { POLICY_ANNOUNCE_JOB, type PolicyChangeNotice } from '../services/policies.ts';
import { SETTING_ANNOUNCE_JOB, settingChangeSuperseded, type SettingChangeNotice } from '../services/projects.ts';
import { channel as channelRef, code } from '../slack/mrkdwn.ts';
import { slackErrorCode, type ChannelDirectory, type ChatSurface, type Message } from '../slack/surface.ts';
import { policyChangeMessage } from '../slack/views/policies.ts';
import { settingChangeMessage } from '../slack/views/settings.ts';
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

/** A change someone made to a project: the payload of an announcement job. */
interface ChangeNotice {
  /** projects.id */
  readonly project: number;
  /** The Slack user id of the person who made it. */
  readonly actor: string;
}

/** How one kind of change is announced: its message, and how the DM to its author names it. */
interface Announcement<N extends ChangeNotice> {
  readonly message: (projectName: string, notice: N) => Message;
  /** "the policy rules of `payments`", "approvals-required of `payments`". */
  readonly subject: (projectName: string, notice: N) => string;
  /** True when the change (announced by job `jobId`) was overtaken by a later one: not posted. */
  readonly superseded?: (project: Project, notice: N, jobId: number) => Promise<boolean>;
}

export function registerPolicyHandlers(queue: JobQueue, deps: PolicyJobDeps): void {
  const { services, chat, log, pacer } = deps;
  const sharedWithOutsiders = channelSharingCheck(services, pacer, deps.channels);
  /** Tells the person who made the change that it was not announced, and why; a DM Slack refuses for good is logged. */
  const tellActor = async (jobId: number, notice: ChangeNotice, text: string) => {
    try {
      await pacer.call(jobId, channelScope(notice.actor), () => chat.postDm(notice.actor, { text }));
    } catch (dmError) {
      if (!isPermanentRefusal(dmError)) throw dmError;
      log.warn('change refusal not told', { project: notice.project, user: notice.actor });
    }
  };
  const announce = <N extends ChangeNotice>(kind: string, how: Announcement<N>) =>
    queue.register(kind, async (job) => {
      const notice = job.payload as unknown as N;
      const project = await findProjectById(services.db, notice.project);
      // Deleted since, or its channel taken back: nobody is waiting in a channel for this.
      if (!project || project.approvalsChannel === null) return;
      const where = project.approvalsChannel;
      // Held back by Slack (an outage, a 429) while someone changed it again: saying the old value now would
      // mislead the channel, and a replica may run the later change's job first. The later job tells it.
      if (await how.superseded?.(project, notice, job.id)) {
        log.info('change not announced: changed again since', { kind, project: project.id });
        return;
      }
      const subject = how.subject(project.name, notice);
      if (await sharedWithOutsiders(job.id, where)) {
        log.warn('change not announced: the approvals channel is shared with another organisation', { kind, project: project.id, channel: where });
        await tellActor(
          job.id,
          notice,
          `:warning: Your change to ${subject} was made, but not announced in ${channelRef(where)}: it is now shared with another organisation (Slack Connect). Set another channel with \`/jamjet projects channel\`.`,
        );
        return;
      }
      const message = how.message(project.name, notice);
      try {
        await pacer.call(job.id, channelScope(where), () => chat.postMessage(where, message));
      } catch (error) {
        if (!isPermanentRefusal(error)) throw error;
        const reason = slackErrorCode(error);
        log.warn('change not announced', { kind, project: project.id, channel: where, reason });
        await tellActor(
          job.id,
          notice,
          `:warning: Your change to ${subject} was made, but Slack refused to announce it in ${channelRef(where)} (${code(reason)}); check that channel with \`/jamjet projects channel\`.`,
        );
      }
    });
  announce<PolicyChangeNotice>(POLICY_ANNOUNCE_JOB, { message: policyChangeMessage, subject: (name) => `the policy rules of \`${name}\`` });
  announce<SettingChangeNotice>(SETTING_ANNOUNCE_JOB, {
    message: settingChangeMessage,
    subject: (name, notice) => `${notice.setting} of \`${name}\``,
    superseded: (project, notice, jobId) => settingChangeSuperseded(services, project, notice, jobId),
  });
}
