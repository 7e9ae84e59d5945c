/**
 * The announcement of blocked and over-budget decisions reported by SDKs: one
 * job per burst and project (src/services/policy-events.ts), posted to the
 * approvals channel at Slack's pace through the pacer. A 429 or an outage
 * retries the job, which posts the same decisions (and any that arrived
 * meanwhile) once Slack takes it; a channel the bot can no longer use drops
 * the announcement (the decisions stay listed by `/jamjet events`), as does
 * a channel shared with another organisation (Slack Connect) since it was
 * set; either way the project's Owners are told by DM, once until the
 * approvals channel is set again or an announcement goes there again
 * (`tellOwnersOfRefusal`, `rearmRefusalNotice`), each DM its own
 * paced job.
 */
import { findProjectById, membershipRole, projectName } from '../services/access.ts';
import { cardDestinations } from '../services/approvals.ts';
import {
  markAnnounced,
  POLICY_ANNOUNCE_JOB,
  rearmRefusalNotice,
  refusalNoticeStands,
  REFUSAL_DM_JOB,
  takeAnnouncement,
  tellOwnersOfRefusal,
  type RefusalNotice,
} from '../services/policy-events.ts';
import { slackErrorCode } from '../slack/surface.ts';
import { announcementMessage, refusalNoticeMessage } from '../slack/views/policy-events.ts';
import type { JobDeps } from './handlers.ts';
import { channelSharingCheck } from './channel-sharing.ts';
import type { JobQueue } from './queue.ts';
import { channelScope, isPermanentRefusal } from './slack-pace.ts';

export function registerPolicyEventHandlers(queue: JobQueue, deps: Pick<JobDeps, 'services' | 'chat' | 'channels' | 'log' | 'pacer'>): void {
  const { services, chat, log, pacer } = deps;
  const sharedWithOutsiders = channelSharingCheck(services, pacer, deps.channels);
  const { db } = services;

  queue.register(POLICY_ANNOUNCE_JOB, async (job) => {
    const projectId = (job.payload as { project: number }).project;
    const summary = await takeAnnouncement(services, projectId, job.id);
    if (!summary) return;
    const { channel, live } = await cardDestinations(db, projectId);
    if (!live || channel === null) {
      // Deleted, or its channel unset since: nobody to tell.
      await markAnnounced(services, projectId, job.id);
      return;
    }
    if (await sharedWithOutsiders(job.id, channel)) {
      // What the project's agents were stopped from doing is not for another organisation; the decisions stay listed.
      log.warn('policy decisions not announced: the approvals channel is shared with another organisation', { project: projectId, channel, decisions: summary.total });
      await tellOwnersOfRefusal(services, projectId, channel, null);
      await markAnnounced(services, projectId, job.id);
      return;
    }
    const message = announcementMessage(await projectName(db, projectId), summary);
    let postedAt: number;
    try {
      await pacer.call(job.id, channelScope(channel), () => chat.postMessage(channel, message));
      postedAt = services.now();
    } catch (error) {
      if (!isPermanentRefusal(error)) throw error;
      const reason = slackErrorCode(error);
      log.warn('policy decisions not announced: Slack refused for good', { project: projectId, channel, reason, decisions: summary.total });
      await tellOwnersOfRefusal(services, projectId, channel, reason);
      await markAnnounced(services, projectId, job.id);
      return;
    }
    // Marked first: Slack has them, and a failure of what follows must not post them again.
    await markAnnounced(services, projectId, job.id);
    // Fixed without setting the channel again (the bot invited back): a later refusal must be told too.
    await rearmRefusalNotice(services, projectId, channel, postedAt);
  });

  queue.register(REFUSAL_DM_JOB, async (job) => {
    const notice = job.payload as unknown as RefusalNotice;
    const project = await findProjectById(db, notice.project);
    // Deleted since, its approvals channel set again, or announcements went there again (re-armed): the news is
    // stale. Nor is it for someone no longer an Owner.
    if (!project || project.approvalsChannel !== notice.channel || !(await refusalNoticeStands(services, project.id))) return;
    if ((await membershipRole(db, project.id, notice.owner)) !== 'owner') return;
    try {
      await pacer.call(job.id, channelScope(notice.owner), () => chat.postDm(notice.owner, refusalNoticeMessage(project.name, notice)));
    } catch (error) {
      if (!isPermanentRefusal(error)) throw error;
      log.warn('announcement refusal not told to an Owner', { project: project.id, user: notice.owner, reason: slackErrorCode(error) });
    }
  });
}
