/**
 * Approval cards are posted and edited by jobs: a Slack outage is retried
 * until the request is decided or expires, each card is recorded once so a
 * retry never posts it twice, and posts keep Slack's pace per channel. A
 * refusal that will never succeed takes its fallback at once: a card Slack
 * refuses goes again without the context (pointing to `approvals list`); a
 * channel the bot cannot use sends the card to the Owners by DM, saying why.
 */
import {
  APPROVAL_ESCALATE_JOB,
  APPROVAL_EXPIRE_JOB,
  APPROVAL_EXPIRY_NOTICE_JOB,
  APPROVAL_POST_JOB,
  APPROVAL_REFRESH_JOB,
  cardDestinations,
  cardPostUnderWay,
  cardsOf,
  claimEscalation,
  claimExpiryNotice,
  expireApproval,
  findApproval,
  recordCard,
  type Approval,
} from '../services/approvals.ts';
import { formatDuration } from '../core/duration.ts';
import { truncate } from '../slack/limits.ts';
import { membershipRole, projectName } from '../services/access.ts';
import { keyById } from '../services/keys.ts';
import { slackErrorCode } from '../slack/surface.ts';
import { approvalCard } from '../slack/views/approvals.ts';
import { channel as channelRef, code, date, escape, mention } from '../slack/mrkdwn.ts';
import { channelSharingCheck } from './channel-sharing.ts';
import type { JobDeps } from './handlers.ts';
import { RetryLater, type JobQueue } from './queue.ts';
import { channelScope, isPermanentRefusal, methodScope } from './slack-pace.ts';

/** One Owner's DM saying a request lapsed before Slack took its card. */
export const APPROVAL_LOST_JOB = 'approval.lost_notice';
/** The escalation's reply in the thread of the channel card, mentioning the Admins and Owners. */
export const APPROVAL_ESCALATE_THREAD_JOB = 'approval.escalate_thread';
/** How long after the card's next try the escalation's thread reply looks again, at least (ms). */
const CARD_WAIT_MIN_MS = 5_000;
/** One Admin's or Owner's DM of an escalated request's card, with the decision buttons. */
export const APPROVAL_ESCALATE_DM_JOB = 'approval.escalate_dm';
/** One Owner's grouped DM of the requests of a project that expired undecided. */
export const APPROVAL_EXPIRY_OWNER_JOB = 'approval.expiry_owner_notice';

/** Errors that mean the bot cannot post in the approvals channel at all. */
const CHANNEL_UNUSABLE = new Set(['not_in_channel', 'channel_not_found', 'is_archived', 'restricted_action']);
/** Errors that mean this card is what Slack refuses: a smaller one may go. */
const CARD_REFUSED = new Set(['invalid_blocks', 'invalid_arguments', 'msg_too_long', 'no_text', 'invalid_attachments']);

interface Posted {
  readonly channel: string;
  readonly ts: string;
}

export function registerApprovalHandlers(queue: JobQueue, deps: JobDeps): void {
  const { services, chat, log, pacer } = deps;
  const sharedWithOutsiders = channelSharingCheck(services, pacer, deps.channels);
  const { db } = services;

  const cardFor = async (approval: Approval, note?: string, withoutContext = false) => {
    const key = (await keyById(db, approval.keyId))!;
    const project = await projectName(db, approval.projectId);
    return approvalCard({ approval, project, keyLabel: `${key.publicId} (\`${key.display}\`)`, note, withoutContext });
  };

  /** Posts the card to a channel or (dm) a person, falling back to the card without its context when Slack refuses it. */
  async function postCard(jobId: number, destination: string, dm: boolean, approval: Approval, note?: string): Promise<Posted> {
    const send = (withoutContext: boolean) =>
      pacer.call(jobId, channelScope(destination), async () => {
        const card = await cardFor(approval, note, withoutContext);
        return dm ? chat.postDm(destination, card) : chat.postMessage(destination, card);
      });
    let at: Posted;
    try {
      at = await send(false);
    } catch (error) {
      if (!CARD_REFUSED.has(slackErrorCode(error))) throw error;
      log.warn('approval card refused; posting it without the context', { approval: approval.id, reason: slackErrorCode(error) });
      at = await send(true);
    }
    await recordCard(db, approval.id, { destination, ...at });
    await catchUp(approval);
    return at;
  }

  queue.register(APPROVAL_POST_JOB, async (job) => {
    const id = (job.payload as { approval: string }).approval;
    const asked = await findApproval(services, id);
    if (!asked) return;
    // Checked when the card goes, not only when the channel was set: a channel shared with another
    // organisation (Slack Connect) since then would show the request to people outside it. Slack is
    // asked first, so everything below reads the state as it is after the answer.
    const setChannel = (await cardDestinations(db, asked.projectId)).channel;
    const shared = setChannel !== null && !(await cardsOf(db, id)).some((c) => c.destination === setChannel) && (await sharedWithOutsiders(job.id, setChannel));
    const approval = (await findApproval(services, id))!;
    const posted = new Set((await cardsOf(db, id)).map((c) => c.destination));
    const { channel, owners, live } = await cardDestinations(db, approval.projectId);
    const sharedOutside = shared && channel === setChannel;
    // Checked when the job runs: a project deleted since the request has no one left to decide it.
    if (!live) return;
    if (approval.status === 'expired' && posted.size === 0) {
      // Expired early (its key was revoked): nobody needs asking. Its time ran out before Slack took
      // the card: say so to the Owners, once.
      const ranOut = approval.decidedAt === null || approval.decidedAt >= approval.expiresAt;
      if (ranOut) await tellOwnersLost(approval, owners);
      return;
    }
    let dmOwners = channel === null;
    let note = channel === null ? 'No approvals channel is set: set one with `/jamjet projects channel <project> #channel`.' : undefined;
    if (sharedOutside) {
      log.warn('approvals channel is shared outside; sending the card to the Owners', { approval: id, channel });
      dmOwners = true;
      note = `${channelRef(channel!)} is now shared with another organisation, so this card came to you instead; pick an internal channel with \`/jamjet projects channel\`.`;
    } else if (channel !== null && !posted.has(channel)) {
      try {
        await postCard(job.id, channel, false, approval);
      } catch (error) {
        const reason = slackErrorCode(error);
        if (!CHANNEL_UNUSABLE.has(reason) && !CARD_REFUSED.has(reason)) throw error;
        log.warn('approvals channel unusable; sending the card to the Owners', { approval: id, reason });
        dmOwners = true;
        note = CHANNEL_UNUSABLE.has(reason)
          ? `I could not post in ${channelRef(channel)} (${code(reason)}); invite me there with \`/invite\`.`
          : `Slack refused this card in ${channelRef(channel)} (${code(reason)}).`;
      }
    } else if (channel !== null) {
      // The channel has its card; Owners got DMs only if an earlier run fell back to them.
      dmOwners = owners.some((o) => posted.has(o));
    }
    if (!dmOwners) return;
    const unreachable: string[] = [];
    let reached = 0;
    for (const owner of owners) {
      if (posted.has(owner)) {
        reached++;
        continue;
      }
      try {
        await postCard(job.id, owner, true, approval, note);
        reached++;
      } catch (error) {
        if (!isPermanentRefusal(error)) throw error;
        log.warn('approval card refused for an Owner', { approval: id, owner, reason: slackErrorCode(error) });
        unreachable.push(`${mention(owner)} (${code(slackErrorCode(error))})`);
      }
    }
    // No one could be asked: keep trying, like an outage, while the request is pending.
    if (reached === 0) throw new Error(`no Owner could be sent the card: ${unreachable.join(', ')}`);
  });

  /**
   * The request lapsed without any card: the Owners learn which one, so the agent is not waiting on nobody unnoticed.
   * Each Owner's DM is a job of its own, paced with every other post to them and retried until Slack takes it (a burst
   * of lapsed requests would otherwise meet Slack's rate limit and leave most Owners untold).
   */
  async function tellOwnersLost(approval: Approval, owners: string[]): Promise<void> {
    log.error('approval expired before its card was posted', { approval: approval.id });
    for (const owner of owners) await services.jobs.enqueue(APPROVAL_LOST_JOB, { approval: approval.id, owner }, services.now());
  }

  queue.register(APPROVAL_LOST_JOB, async (job) => {
    const { approval: id, owner } = job.payload as { approval: string; owner: string };
    const approval = await findApproval(services, id);
    if (!approval) return;
    const project = await projectName(db, approval.projectId);
    const text = `:warning: Request \`${approval.id}\` in \`${project}\` expired before Slack took its card, so no one was asked; the agent was told it expired.`;
    try {
      await pacer.call(job.id, channelScope(owner), () => chat.postDm(owner, { text }));
    } catch (error) {
      // A deactivated Owner will never take it; the other Owners have DMs of their own.
      if (!isPermanentRefusal(error)) throw error;
      log.warn('owner not told of a lapsed request', { approval: id, owner, reason: slackErrorCode(error) });
    }
  });

  /**
   * A decision that landed while the card was on its way: show it on the card too, by a refresh job of its own, so
   * a rate limit on the edit is retried there (this job, retried, finds the card posted and would not edit it).
   */
  async function catchUp(posted: Approval) {
    const current = await findApproval(services, posted.id);
    if (current && current.status !== posted.status) {
      await services.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: posted.id }, services.now());
      queue.kick();
    }
  }

  /** Edits one card; a card that no longer exists or cannot be edited is left as it is. */
  async function update(jobId: number, at: Posted, approval: Approval): Promise<void> {
    const send = (withoutContext: boolean) =>
      pacer.call(jobId, methodScope('chat.update'), async () => chat.updateMessage(at, await cardFor(approval, undefined, withoutContext)));
    try {
      await send(false);
    } catch (error) {
      const reason = slackErrorCode(error);
      if (CARD_REFUSED.has(reason)) return void (await send(true));
      if (!isPermanentRefusal(error)) throw error;
      log.warn('approval card not edited', { approval: approval.id, channel: at.channel, reason });
    }
  }

  /** What a card shows of a request that can change: its decision, who approved, whether it was escalated. */
  const shown = (a: Approval) => JSON.stringify([a.status, a.decidedBy, a.reason, a.approvals, a.escalatedAt]);

  /**
   * Edits every card of a request. Refreshes of one request can run at once
   * on two replicas and reach Slack in either order, so after its edits a
   * refresh reads the request again and edits once more when it changed
   * meanwhile: the edit Slack takes last never shows an older state. At most
   * three rounds (each change queues a refresh of its own as well).
   */
  const refresh = async (jobId: number, id: string) => {
    let edited: string | null = null;
    for (let round = 0; round < 3; round++) {
      const approval = await findApproval(services, id);
      if (!approval || shown(approval) === edited) return;
      for (const card of await cardsOf(db, id)) await update(jobId, card, approval);
      edited = shown(approval);
    }
  };

  queue.register(APPROVAL_REFRESH_JOB, async (job) => refresh(job.id, (job.payload as { approval: string }).approval));

  queue.register(APPROVAL_EXPIRE_JOB, async (job) => {
    const id = (job.payload as { approval: string }).approval;
    const approval = await findApproval(services, id);
    if (!approval) return;
    if (approval.expiresAt > services.now()) {
      // The timeout is checked against the request's own expiry, never early.
      throw Object.assign(new Error('not yet expired'), { retryAfterMs: approval.expiresAt - services.now() });
    }
    // The edits are a refresh job of their own, enqueued with the expiry: a rate limit retries them there, where this
    // job, retried, would find the request already expired and edit nothing.
    const expired = await db.transaction(async () => {
      if (!await expireApproval(services, id)) return false;
      await services.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, services.now());
      return true;
    });
    if (expired) queue.kick();
  });

  /**
   * Escalation, once per request: the claim sets `escalated_at` and queues,
   * in the same transaction, the thread reply and one DM job per Admin or
   * Owner (each retried on its own, so a Slack failure loses or doubles none).
   */
  queue.register(APPROVAL_ESCALATE_JOB, async (job) => {
    const id = (job.payload as { approval: string }).approval;
    const claimed = await claimEscalation(services, id, async (approval, people) => {
      const at = services.now();
      await services.jobs.enqueue(APPROVAL_ESCALATE_THREAD_JOB, { approval: approval.id, people: [...people] }, at);
      for (const user of people) await services.jobs.enqueue(APPROVAL_ESCALATE_DM_JOB, { approval: approval.id, user }, at);
    });
    if (claimed) {
      // The channel card shows that it was escalated.
      await services.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, services.now());
      queue.kick();
    }
  });

  queue.register(APPROVAL_ESCALATE_THREAD_JOB, async (job) => {
    const { approval: id, people } = job.payload as { approval: string; people: string[] };
    const approval = await findApproval(services, id);
    if (!approval || approval.status !== 'pending') return;
    const { channel } = await cardDestinations(db, approval.projectId);
    const cards = await cardsOf(db, id);
    // The card's channel, which may no longer be the project's (changed or turned off since): a DM card's destination is the person, not where Slack put it.
    const card = cards.find((c) => c.destination === channel) ?? cards.find((c) => c.destination === c.channel);
    if (!card) {
      if (channel === null) return;
      // The card is still on its way (its job retrying after a rate limit or an outage): try again while the request
      // is pending. DM cards that went out meanwhile (this escalation's own) say nothing about where the card will go.
      const cardDue = await cardPostUnderWay(db, id);
      if (cardDue !== null) {
        // Tried again just after the card's next try (a Retry-After or its backoff), not at a backoff of its own
        // grown while it waited: the reply follows the card within seconds. Bounded by the request's expiry.
        const wait = Math.max(CARD_WAIT_MIN_MS, cardDue - services.now() + CARD_WAIT_MIN_MS);
        throw new RetryLater('the channel card is not posted yet', wait);
      }
      // Its job is over without a channel card: it went to the Owners instead (the channel was unusable or shared
      // outside), or the job gave up for good. There is no thread; the DMs do the asking.
      log.warn('escalation not posted in the thread: the request has no channel card', { approval: id, channel });
      return;
    }
    const waited = formatDuration(Math.max(1, Math.round(((approval.escalatedAt ?? services.now()) - approval.createdAt) / 1000)));
    // Chosen when the request was escalated; the reply may go much later (its card held back): someone demoted or
    // removed since, or who has approved it meanwhile (from their escalation DM), is not pinged.
    const asked: string[] = [];
    for (const user of people) {
      if (approval.approvals.some((v) => v.user === user)) continue;
      const role = await membershipRole(db, approval.projectId, user);
      if (role === 'owner' || role === 'admin') asked.push(user);
    }
    const who = asked.length > 0 ? asked.map(mention).join(' ') : 'Admins and Owners';
    const text = `:rotating_light: ${who}: nobody has decided this request in ${waited}; it expires ${date(approval.expiresAt)}. Decide on the card above or in your DM.`;
    try {
      await pacer.call(job.id, channelScope(card.channel), () => chat.postMessage(card.channel, { text, threadTs: card.ts }));
    } catch (error) {
      if (!isPermanentRefusal(error) && !CHANNEL_UNUSABLE.has(slackErrorCode(error))) throw error;
      log.warn('escalation not posted in the thread', { approval: id, reason: slackErrorCode(error) });
    }
  });

  queue.register(APPROVAL_ESCALATE_DM_JOB, async (job) => {
    const { approval: id, user } = job.payload as { approval: string; user: string };
    const approval = await findApproval(services, id);
    if (!approval || approval.status !== 'pending') return;
    // Someone who has the card by DM already (an Owner of a project without a channel) is asked there.
    if ((await cardsOf(db, id)).some((c) => c.destination === user)) return;
    // Chosen when the request was escalated: someone removed or demoted since (a retry can come much later) is not handed it.
    const role = await membershipRole(db, approval.projectId, user);
    if (role !== 'owner' && role !== 'admin') return;
    // Approved it since (in the channel): nothing left for them to decide.
    if (approval.approvals.some((v) => v.user === user)) return;
    const project = await projectName(db, approval.projectId);
    const note = `:rotating_light: Nobody has decided this request yet, so it comes to you as an Admin or Owner of \`${project}\`.`;
    try {
      await postCard(job.id, user, true, approval, note);
    } catch (error) {
      if (!isPermanentRefusal(error)) throw error;
      log.warn('escalation DM refused', { approval: id, user, reason: slackErrorCode(error) });
    }
  });

  /**
   * Requests that expired undecided: the first notice job of a project after
   * a minute claims every such request not yet told and queues one DM per
   * Owner listing them; later jobs of the same minute find nothing to tell.
   */
  queue.register(APPROVAL_EXPIRY_NOTICE_JOB, async (job) => {
    const projectId = (job.payload as { project: number }).project;
    const notice = await claimExpiryNotice(services, projectId, async (n) => {
      const ids = n.approvals.map((a) => a.id);
      for (const owner of n.owners) {
        await services.jobs.enqueue(APPROVAL_EXPIRY_OWNER_JOB, { project: projectId, owner, approvals: ids, total: n.total }, services.now());
      }
    });
    if (notice) queue.kick();
  });

  queue.register(APPROVAL_EXPIRY_OWNER_JOB, async (job) => {
    const { project: projectId, owner, approvals: ids, total } = job.payload as { project: number; owner: string; approvals: string[]; total: number };
    // Chosen when the notice was claimed: someone no longer an Owner (a retry can come much later) is not told the project's requests.
    if ((await membershipRole(db, projectId, owner)) !== 'owner') return;
    const project = await projectName(db, projectId);
    const lines: string[] = [];
    for (const id of ids) {
      const approval = await findApproval(services, id);
      if (approval) lines.push(`• \`${approval.id}\`: ${truncate(escape(approval.action).replace(/\s+/g, ' '), 120)} (expired ${date(approval.expiresAt)})`);
    }
    const more = total - ids.length;
    const text = [
      `:hourglass: ${total === 1 ? 'An approval request' : `${total} approval requests`} in \`${project}\` expired without a decision; the agents were told they expired.`,
      ...lines,
      ...(more > 0 ? [`…and ${more} more (\`/jamjet audit ${project}\`).`] : []),
    ].join('\n');
    try {
      await pacer.call(job.id, channelScope(owner), () => chat.postDm(owner, { text }));
    } catch (error) {
      if (!isPermanentRefusal(error)) throw error;
      log.warn('owner not told of expired requests', { project: projectId, owner, reason: slackErrorCode(error) });
    }
  });
}
