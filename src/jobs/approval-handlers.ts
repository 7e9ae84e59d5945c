/**
 * Approval cards are posted and edited by jobs: a Slack failure is retried
 * until the card is there, and each card is recorded once so a retry never
 * posts it twice.
 */
import {
  APPROVAL_EXPIRE_JOB,
  APPROVAL_POST_JOB,
  APPROVAL_REFRESH_JOB,
  cardDestinations,
  cardsOf,
  expireApproval,
  findApproval,
  recordCard,
  type Approval,
} from '../services/approvals.ts';
import { projectName } from '../services/access.ts';
import { keyById } from '../services/keys.ts';
import { slackErrorCode } from '../slack/surface.ts';
import { approvalCard } from '../slack/views/approvals.ts';
import { channel as channelRef, code } from '../slack/mrkdwn.ts';
import type { JobDeps } from './handlers.ts';
import { slackCall } from './handlers.ts';
import type { JobQueue } from './queue.ts';

/** Errors that mean the bot cannot post in the approvals channel at all. */
const CHANNEL_UNUSABLE = new Set(['not_in_channel', 'channel_not_found', 'is_archived', 'restricted_action']);

export function registerApprovalHandlers(queue: JobQueue, deps: JobDeps): void {
  const { services, chat, log } = deps;
  const { db } = services;

  const cardFor = (approval: Approval, note?: string) => {
    const key = keyById(db, approval.keyId)!;
    const project = projectName(db, approval.projectId);
    return approvalCard({ approval, project, keyLabel: `${key.publicId} (\`${key.display}\`)`, note });
  };

  queue.register(APPROVAL_POST_JOB, async (job) => {
    const id = (job.payload as { approval: string }).approval;
    const approval = findApproval(services, id);
    if (!approval) return;
    const posted = new Set(cardsOf(db, id).map((c) => c.destination));
    const { channel, owners, live } = cardDestinations(db, approval.projectId);
    // Checked when the job runs: a project deleted since the request has no one left to decide it, and a
    // request that expired before anyone saw it (its time ran out, or its key was revoked) needs no card.
    if (!live || (approval.status === 'expired' && posted.size === 0)) return;
    let dmOwners = channel === null;
    let note = channel === null ? 'No approvals channel is set: set one with `/jamjet projects channel <project> #channel`.' : undefined;
    if (channel !== null && !posted.has(channel)) {
      try {
        const at = await slackCall(() => chat.postMessage(channel, cardFor(approval)));
        recordCard(db, id, { destination: channel, ...at });
        await catchUp(approval, at);
      } catch (error) {
        const reason = slackErrorCode(error);
        if (!CHANNEL_UNUSABLE.has(reason)) throw error;
        log.warn('approvals channel unusable; sending the card to the Owners', { approval: id, reason });
        dmOwners = true;
        note = `I could not post in ${channelRef(channel)} (${code(reason)}); invite me there with \`/invite\`.`;
      }
    }
    if (!dmOwners) return;
    for (const owner of owners.filter((o) => !posted.has(o))) {
      const at = await slackCall(() => chat.postDm(owner, cardFor(approval, note)));
      recordCard(db, id, { destination: owner, ...at });
      await catchUp(approval, at);
    }
  });

  /** A decision that landed while the card was on its way: show it on the card too. */
  async function catchUp(posted: Approval, at: { channel: string; ts: string }) {
    const current = findApproval(services, posted.id);
    if (current && current.status !== posted.status) await chat.updateMessage(at, cardFor(current));
  }

  const refresh = async (id: string) => {
    const approval = findApproval(services, id);
    if (!approval) return;
    const message = cardFor(approval);
    for (const card of cardsOf(db, id)) {
      await slackCall(() => chat.updateMessage(card, message));
    }
  };

  queue.register(APPROVAL_REFRESH_JOB, async (job) => refresh((job.payload as { approval: string }).approval));

  queue.register(APPROVAL_EXPIRE_JOB, async (job) => {
    const id = (job.payload as { approval: string }).approval;
    const approval = findApproval(services, id);
    if (!approval) return;
    if (approval.expiresAt > services.now()) {
      // The timeout is checked against the request's own expiry, never early.
      throw Object.assign(new Error('not yet expired'), { retryAfterMs: approval.expiresAt - services.now() });
    }
    if (expireApproval(services, id)) await refresh(id);
  });
}
