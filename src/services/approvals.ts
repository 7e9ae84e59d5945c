/**
 * Human approvals requested by JamJet SDKs. The first decision wins: it is
 * one conditional UPDATE, so concurrent presses, processes and the expiry
 * job cannot both succeed.
 */
import { randomBytes } from 'node:crypto';
import { redact, redactValue, storableText } from '../core/secrets.ts';
import { fail, ok, type Result } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { PERMISSIONS, type Role } from '../core/roles.ts';
import type { Db } from '../db/database.ts';
import type { ApprovalStatus, ApprovalsTable } from '../db/schema.ts';
import type { Selectable } from 'kysely';
import { authorize, authorizeById, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import { SYSTEM_ACTOR, type Actor, type Scheduler, type ServiceContext } from './context.ts';
import type { KeyIdentity } from './key-auth.ts';

export const APPROVAL_POST_JOB = 'approval.post';
export const APPROVAL_EXPIRE_JOB = 'approval.expire';
export const APPROVAL_REFRESH_JOB = 'approval.refresh';
/** A request still pending after the project's escalate-after: tell its Admins and Owners. */
export const APPROVAL_ESCALATE_JOB = 'approval.escalate';
/** A project's requests expired undecided lately: tell its Owners once, grouped. */
export const APPROVAL_EXPIRY_NOTICE_JOB = 'approval.expiry_notice';
/** How long expiries of one project are gathered before its Owners are told (ms). */
export const EXPIRY_NOTICE_DELAY_MS = 60_000;

/**
 * Expires at `at` every pending request of one project, or of one API key,
 * because nobody can decide it any more (the project was deleted, the key
 * revoked). Each gets an `approval.expired` audit event with `details`, and a
 * refresh job so its card says so instead of offering buttons (`jobs` absent:
 * no card refresh). Runs inside the caller's transaction.
 */
export async function expirePendingApprovals(
  db: Db,
  at: number,
  scope: { readonly projectId: number; readonly keyId?: number },
  actor: string,
  details: Record<string, unknown>,
  jobs?: Scheduler,
): Promise<void> {
  let query = db.q.updateTable('approvals').set({ status: 'expired', decided_at: at }).where('project_id', '=', scope.projectId).where('status', '=', 'pending');
  if (scope.keyId !== undefined) query = query.where('key_id', '=', scope.keyId);
  for (const { id } of await db.all(query.returning('id'))) {
    await recordEvent(db, at, { projectId: scope.projectId, actor, action: 'approval.expired', details: { approval: id, ...details } });
    await jobs?.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, at);
  }
}

export type Decision = 'approved' | 'rejected';

export interface Approval {
  readonly id: string;
  readonly projectId: number;
  readonly keyId: number;
  readonly action: string;
  readonly context: Record<string, unknown>;
  /** `expired` as soon as the time is up, even before the expiry job has run. */
  readonly status: ApprovalStatus;
  readonly reason: string | null;
  readonly decidedBy: string | null;
  readonly decidedAt: number | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Distinct approvals this request needs: the project's setting when it was created. */
  readonly approvalsRequired: number;
  /**
   * Who approved and when (epoch ms), oldest first. While the request is
   * pending (or expired) only votes whose authors still hold Member or above
   * count and are listed; once decided, the votes that counted.
   */
  readonly approvals: readonly Vote[];
  /** When it was escalated to the project's Admins and Owners; null: not. */
  readonly escalatedAt: number | null;
}

/** One person's approval of a request: a Slack user id (as `decidedBy`) and epoch ms. */
export interface Vote {
  readonly user: string;
  readonly at: number;
}

/** Approvals a request still needs (0 once it has its quorum). */
export function approvalsMissing(a: Approval): number {
  return Math.max(0, a.approvalsRequired - a.approvals.length);
}

/** A stored context; one an older version stored broken is shown as such instead of failing the request. */
function parseContext(text: string): Record<string, unknown> {
  try {
    const value = JSON.parse(text) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  return { unreadable: 'This context could not be read.' };
}

function toApproval(r: Selectable<ApprovalsTable>, now: number, votes: readonly Vote[]): Approval {
  const lapsed = r.status === 'pending' && now >= r.expires_at;
  return {
    id: r.id,
    projectId: r.project_id,
    keyId: r.key_id,
    action: r.action,
    context: parseContext(r.context),
    status: lapsed ? 'expired' : r.status,
    reason: r.reason === null ? null : redact(r.reason),
    decidedBy: r.decided_by,
    decidedAt: lapsed ? r.expires_at : r.decided_at,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    approvalsRequired: r.approvals_required,
    approvals: votes,
    escalatedAt: r.escalated_at,
  };
}

/**
 * The approvals of each request that count, oldest first. A vote counts while
 * its author still holds Member or above in the request's project (roles are
 * read now, not at the press), or was cast as one of JAMJET_ADMIN_USERS. A
 * role that drops below Member withdraws the person's votes on pending
 * requests in the same transaction (`withdrawVotes`); reading the role here
 * as well keeps the count, also the one a press decides by, to current
 * Members and above whatever wrote the votes. Once a
 * request is approved or rejected its remaining votes are the ones that
 * counted (the rest were removed when it was decided), so all are listed.
 */
export async function votesOf(db: Db, rows: readonly Pick<Selectable<ApprovalsTable>, 'id' | 'status'>[]): Promise<Map<string, Vote[]>> {
  const out = new Map<string, Vote[]>(rows.map((r) => [r.id, []]));
  if (rows.length === 0) return out;
  const deciders = PERMISSIONS.decide_approval as readonly Role[];
  const settled = new Set(rows.filter((r) => r.status === 'approved' || r.status === 'rejected').map((r) => r.id));
  const found = await db.all(
    db.q
      .selectFrom('approval_votes as v')
      .innerJoin('approvals as a', 'a.id', 'v.approval_id')
      .leftJoin('memberships as m', (j) => j.onRef('m.project_id', '=', 'a.project_id').onRef('m.user_id', '=', 'v.user_id'))
      .select(['v.approval_id', 'v.user_id', 'v.voted_at', 'v.as_admin', 'm.role'])
      .where('v.approval_id', 'in', rows.map((r) => r.id))
      .orderBy('v.approval_id')
      .orderBy('v.position'),
  );
  for (const v of found) {
    const counts = settled.has(v.approval_id) || Number(v.as_admin) === 1 || (v.role !== null && deciders.includes(v.role));
    if (counts) out.get(v.approval_id)!.push({ user: v.user_id, at: Number(v.voted_at) });
  }
  return out;
}

/**
 * Withdraws `userId`'s approvals of the pending requests of one project,
 * because they no longer hold Member or above there (demoted, removed, or no
 * longer in JAMJET_ADMIN_USERS): the votes are deleted, so someone given the
 * role back must press again, and a press racing with this change on another
 * replica either comes first (and its vote is deleted here) or finds the role
 * gone. Votes cast as one of JAMJET_ADMIN_USERS (`as_admin`) are kept unless
 * `asAdminToo`: such a person keeps their authority whatever their project
 * role. Runs inside the caller's transaction, the one that changes the role:
 * one `approval.votes_withdrawn` audit event (by `actor`, with the request ids
 * and `reason`) when any vote went, and one refresh job per request so its
 * cards (channel and DMs) show the lower count. Returns the request ids,
 * oldest first. Decided or expired requests keep their votes.
 */
export async function withdrawVotes(
  db: Db,
  jobs: Scheduler,
  at: number,
  change: { readonly projectId: number; readonly userId: string; readonly actor: string; readonly reason: string; readonly asAdminToo?: boolean },
): Promise<string[]> {
  // Pending and not yet lapsed (the expiry job may not have marked it): an expired request keeps its votes.
  const pending = db.q
    .selectFrom('approvals')
    .select('id')
    .where('project_id', '=', change.projectId)
    .where('status', '=', 'pending')
    .where('expires_at', '>', at);
  const withdrawn = await db.all(
    db.q
      .deleteFrom('approval_votes')
      .where('user_id', '=', change.userId)
      .where('approval_id', 'in', pending)
      .$if(change.asAdminToo !== true, (q) => q.where('as_admin', '=', 0))
      .returning(['approval_id', 'voted_at']),
  );
  if (withdrawn.length === 0) return [];
  const ids = withdrawn.sort((a, b) => Number(a.voted_at) - Number(b.voted_at) || a.approval_id.localeCompare(b.approval_id)).map((v) => v.approval_id);
  await recordEvent(db, at, {
    projectId: change.projectId,
    actor: change.actor,
    action: 'approval.votes_withdrawn',
    details: { user: change.userId, approvals: ids, reason: change.reason },
  });
  for (const id of ids) await jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, at);
  return ids;
}

/**
 * Lifecycle at start-up: a vote cast as one of JAMJET_ADMIN_USERS on a
 * request still pending counts as an admin's only while its author is still
 * in `adminUsers` (the list as the bot now reads it). The list changes only
 * with a restart, so this is where it is caught: an author who holds Member
 * or above in the request's project keeps the vote, now counted by that role;
 * anyone else's vote is withdrawn (`withdrawVotes`: deleted, audited, cards
 * refreshed), so a role given later does not bring it back. Decided requests
 * keep the votes that decided them. One transaction. Returns how many votes
 * it changed or withdrew.
 */
export async function forgetFormerAdminVotes(db: Db, adminUsers: readonly string[], jobs: Scheduler, at: number): Promise<number> {
  return await db.transaction(async () => {
    const deciders = PERMISSIONS.decide_approval as readonly Role[];
    const former = await db.all(
      db.q
        .selectFrom('approval_votes as v')
        .innerJoin('approvals as a', 'a.id', 'v.approval_id')
        .leftJoin('memberships as m', (j) => j.onRef('m.project_id', '=', 'a.project_id').onRef('m.user_id', '=', 'v.user_id'))
        .select(['a.project_id', 'v.user_id', 'm.role'])
        .distinct()
        .where('v.as_admin', '=', 1)
        .where('a.status', '=', 'pending')
        .$if(adminUsers.length > 0, (q) => q.where('v.user_id', 'not in', adminUsers))
        .orderBy('a.project_id')
        .orderBy('v.user_id'),
    );
    let changed = 0;
    for (const f of former) {
      if (f.role !== null && deciders.includes(f.role)) {
        const { changes } = await db.run(
          db.q
            .updateTable('approval_votes')
            .set({ as_admin: 0 })
            .where('user_id', '=', f.user_id)
            .where('as_admin', '=', 1)
            .where('approval_id', 'in', db.q.selectFrom('approvals').select('id').where('project_id', '=', f.project_id).where('status', '=', 'pending')),
        );
        changed += changes;
      } else {
        const reason = 'no longer in JAMJET_ADMIN_USERS';
        changed += (await withdrawVotes(db, jobs, at, { projectId: f.project_id, userId: f.user_id, actor: SYSTEM_ACTOR, reason, asAdminToo: true })).length;
      }
    }
    return changed;
  });
}

async function withVotes(db: Db, rows: readonly Selectable<ApprovalsTable>[], now: number): Promise<Approval[]> {
  const votes = await votesOf(db, rows);
  return rows.map((r) => toApproval(r, now, votes.get(r.id) ?? []));
}

export async function findApproval(ctx: ServiceContext, id: string): Promise<Approval | null> {
  const row = await ctx.db.get(ctx.db.q.selectFrom('approvals').selectAll().where('id', '=', id));
  return row ? (await withVotes(ctx.db, [row], ctx.now()))[0]! : null;
}

/** Pending (not yet expired) requests of one key or one project. */
/** Pending, unexpired requests of a key and of its project, in one query (it runs under the write lock). */
async function pendingCounts(db: Db, at: number, key: KeyIdentity): Promise<{ ofKey: number; ofProject: number }> {
  const row = await db.get(
    db.q
      .selectFrom('approvals')
      .select((eb) => [
        eb.fn.countAll<number>().as('of_project'),
        eb.fn.sum<number>(eb.case().when('key_id', '=', key.keyId).then(1).else(0).end()).as('of_key'),
      ])
      .where('project_id', '=', key.projectId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', at),
  );
  return { ofKey: Number(row?.of_key ?? 0), ofProject: Number(row?.of_project ?? 0) };
}

/**
 * Records a request from an SDK; its card is posted by a job, so a Slack
 * outage loses nothing. Refused with `conflict` when the key or the project
 * already has as many pending requests as `LIMITS` allows.
 */
export async function createApproval(
  ctx: ServiceContext,
  key: KeyIdentity,
  action: string,
  context: Record<string, unknown>,
): Promise<Result<Approval>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const pending = await pendingCounts(db, at, key);
    if (pending.ofKey >= LIMITS.pendingApprovalsPerKey) {
      return fail('conflict', `This API key already has ${LIMITS.pendingApprovalsPerKey} pending approval requests; wait for decisions or expiries first.`);
    }
    if (pending.ofProject >= LIMITS.pendingApprovalsPerProject) {
      return fail('conflict', `This project already has ${LIMITS.pendingApprovalsPerProject} pending approval requests; wait for decisions or expiries first.`);
    }
    const project = (await db.get(
      db.q.selectFrom('projects').select(['approval_timeout_seconds', 'approvals_required', 'escalate_after_seconds']).where('id', '=', key.projectId),
    ))!;
    const id = `apr_${randomBytes(12).toString('hex')}`;
    const expiresAt = at + project.approval_timeout_seconds * 1000;
    const row = (await db.get(
      db.q
        .insertInto('approvals')
        .values({
          id,
          project_id: key.projectId,
          key_id: key.keyId,
          // An agent may paste a key or token by mistake: it is never stored or shown.
          action: storableText(action),
          // Value by value: a pattern over the serialised JSON could swallow fields or break it.
          context: JSON.stringify(redactValue(context)),
          status: 'pending',
          created_at: at,
          expires_at: expiresAt,
          // Fixed now: lowering the setting later cannot decide this request by one press.
          approvals_required: project.approvals_required,
        })
        .returningAll(),
    ))!;
    await ctx.jobs.enqueue(APPROVAL_POST_JOB, { approval: id }, at);
    await ctx.jobs.enqueue(APPROVAL_EXPIRE_JOB, { approval: id }, expiresAt);
    const escalateAt = project.escalate_after_seconds === null ? null : at + project.escalate_after_seconds * 1000;
    if (escalateAt !== null && escalateAt < expiresAt) await ctx.jobs.enqueue(APPROVAL_ESCALATE_JOB, { approval: id }, escalateAt);
    await recordEvent(db, at, {
      projectId: key.projectId,
      actor: `key:${key.publicId}`,
      action: 'approval.requested',
      details: { approval: id, action: redact(action).slice(0, 200), expires_at: expiresAt, approvals_required: project.approvals_required },
    });
    return ok(toApproval(row, at, []));
  });
}

/** An approval as the key's project sees it; null for another project's request. */
export async function approvalForKey(ctx: ServiceContext, key: KeyIdentity, id: string): Promise<Approval | null> {
  const approval = await findApproval(ctx, id);
  return approval && approval.projectId === key.projectId ? approval : null;
}

/** Checks that the actor may decide, before a modal opens or a decision is written. */
export async function checkCanDecide(ctx: ServiceContext, actor: Actor, id: string): Promise<Result<{ approval: Approval; project: Project }>> {
  const approval = await findApproval(ctx, id);
  if (!approval) return fail('not_found', 'This approval request no longer exists.');
  const access = await authorizeById(ctx.db, actor, approval.projectId, 'decide_approval');
  if (!access.ok) return access;
  return ok({ approval, project: access.value.project });
}

export function decidedSentence(a: Approval): string {
  if (a.status === 'expired') return 'This request has expired; nothing was decided.';
  return `This request was already ${a.status} by <@${a.decidedBy}>.`;
}

/**
 * One person's press. A Reject decides at once (the first decision wins). An
 * Approve is a vote (one per person: a second press fails `already_done`
 * saying so); the press that brings the votes that count (see `votesOf`) to
 * the request's quorum approves it, with `decidedBy` that person. Roles are
 * checked at the press. Everything happens in one transaction, serialised
 * with every other decision and every role change, so concurrent presses on
 * any replica count once each, and a demotion racing with a press either
 * comes first (the press is refused) or withdraws the vote it wrote; the
 * count read at the decision sees only current Members and above. Fails `not_found`, `no_access`, `forbidden`, or `already_done` naming
 * who decided.
 */
export async function decideApproval(
  ctx: ServiceContext,
  actor: Actor,
  id: string,
  decision: Decision,
  reason: string | null,
): Promise<Result<Approval>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const allowed = await checkCanDecide(ctx, actor, id);
    if (!allowed.ok) return allowed;
    const { approval } = allowed.value;
    if (approval.status !== 'pending') return fail('already_done', decidedSentence(approval));
    const at = ctx.now();
    // The clock moved since the request was read: a press at or after its expiry decides nothing.
    if (at >= approval.expiresAt) return fail('already_done', decidedSentence({ ...approval, status: 'expired' }));
    if (decision === 'approved') {
      // Decisions are serialised (one write transaction at a time, on every replica), so the next position is free.
      const last = await db.get(db.q.selectFrom('approval_votes').select((eb) => eb.fn.max('position').as('n')).where('approval_id', '=', id));
      const { changes } = await db.run(
        db.q
          .insertInto('approval_votes')
          .values({ approval_id: id, user_id: actor.userId, as_admin: actor.isAdmin ? 1 : 0, voted_at: at, position: Number(last?.n ?? 0) + 1 })
          .onConflict((oc) => oc.doNothing()),
      );
      const voted = (await findApproval(ctx, id))!;
      // A repeated press adds nothing; it decides only if the quorum was met meanwhile (votes of people who lost the
      // role are withdrawn with it, so a role given back never revives one).
      if (changes === 0 && approvalsMissing(voted) > 0) {
        return fail('already_done', `You already approved this request; it needs ${plural(approvalsMissing(voted), 'more approval')} from someone else.`);
      }
      if (approvalsMissing(voted) > 0) {
        await recordEvent(db, at, {
          projectId: approval.projectId,
          actor: actor.userId,
          action: 'approval.vote',
          details: { approval: id, approvals: voted.approvals.length, required: voted.approvalsRequired },
        });
        await ctx.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, at);
        return ok(voted);
      }
    }
    const cleanReason = decision === 'rejected' && reason !== null ? storableText(reason) : null;
    // Read again after the vote: for an approval, the votes that count now include this press.
    const counted = (await findApproval(ctx, id))!.approvals;
    await settle(db, id, counted, decision, actor.userId, cleanReason, at);
    await recordEvent(db, at, {
      projectId: approval.projectId,
      actor: actor.userId,
      action: `approval.${decision}`,
      details: {
        approval: id,
        ...(cleanReason ? { reason: cleanReason.slice(0, 500) } : {}),
        ...(approval.approvalsRequired > 1 ? { approvers: counted.map((v) => v.user) } : {}),
      },
    });
    await ctx.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, at);
    return ok((await findApproval(ctx, id))!);
  });
}

/** `1 more approval`, `2 more approvals`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/**
 * Decides a pending request (inside the caller's transaction) and keeps only
 * the votes that counted, so the decided request lists exactly its approvers.
 */
async function settle(db: Db, id: string, counted: readonly Vote[], decision: Decision, by: string, reason: string | null, at: number): Promise<void> {
  // The reason goes back to the agent and onto every card: it is redacted like everything else people type.
  const { changes } = await db.run(
    db.q
      .updateTable('approvals')
      .set({ status: decision, reason, decided_by: by, decided_at: at })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', at),
  );
  if (changes !== 1) throw new Error(`approval ${id} was not pending when decided`);
  let stale = db.q.deleteFrom('approval_votes').where('approval_id', '=', id);
  if (counted.length > 0) stale = stale.where('user_id', 'not in', counted.map((v) => v.user));
  await db.run(stale);
}

/** The timeout passed: true when this call expired it. */
export async function expireApproval(ctx: ServiceContext, id: string): Promise<boolean> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const { changes } = await db.run(
      db.q
        .updateTable('approvals')
        .set({ status: 'expired', decided_at: at })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('expires_at', '<=', at),
    );
    if (changes === 0) return false;
    const approval = (await findApproval(ctx, id))!;
    await recordEvent(db, at, { projectId: approval.projectId, actor: SYSTEM_ACTOR, action: 'approval.expired', details: { approval: id } });
    // The Owners hear of it once, in one notice for the expiries of the next minute (see `claimExpiryNotice`).
    await ctx.jobs.enqueue(APPROVAL_EXPIRY_NOTICE_JOB, { project: approval.projectId }, at + EXPIRY_NOTICE_DELAY_MS);
    return true;
  });
}

export async function listPending(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<{ project: Project; approvals: Approval[] }>> {
  const access = await authorize(ctx.db, actor, name, 'view');
  if (!access.ok) return access;
  const { project } = access.value;
  const at = ctx.now();
  const rows = await ctx.db.all(
    ctx.db.q
      .selectFrom('approvals')
      .selectAll()
      .where('project_id', '=', project.id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', at)
      .orderBy('created_at'),
  );
  return ok({ project, approvals: await withVotes(ctx.db, rows, at) });
}

/**
 * Pending requests a person may decide, newest first, for App Home. The
 * person's authority is part of the query, before the limit: requests they
 * may not decide, or have already approved, never take the places of those
 * they may.
 */
export async function decidableBy(ctx: ServiceContext, actor: Actor, limit = 20): Promise<{ approval: Approval; project: string }[]> {
  const { db } = ctx;
  const at = ctx.now();
  const deciders = PERMISSIONS.decide_approval as readonly Role[];
  const rows = await db.all(
    db.q
      .selectFrom('approvals')
      .innerJoin('projects', 'projects.id', 'approvals.project_id')
      .leftJoin('memberships', (j) =>
        j.onRef('memberships.project_id', '=', 'approvals.project_id').on('memberships.user_id', '=', actor.userId),
      )
      .selectAll('approvals')
      .select('projects.name as project_name')
      .where('approvals.status', '=', 'pending')
      .where('approvals.expires_at', '>', at)
      .where('projects.deleted_at', 'is', null)
      .$if(!actor.isAdmin, (q) => q.where('memberships.role', 'in', deciders))
      // Requests they already approved wait for others: they would only take the places of those they can decide.
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('approval_votes').select('approval_votes.user_id').whereRef('approval_votes.approval_id', '=', 'approvals.id').where('approval_votes.user_id', '=', actor.userId))),
      )
      .orderBy('approvals.created_at', 'desc')
      .orderBy('approvals.id', 'desc')
      .limit(limit),
  );
  const approvals = await withVotes(db, rows.map(({ project_name: _, ...r }) => r), at);
  return rows.map((r, i) => ({ approval: approvals[i]!, project: r.project_name }));
}

export interface Card {
  readonly destination: string;
  readonly channel: string;
  readonly ts: string;
}

/**
 * When the job posting a request's card (`approval.post`, payload
 * `{"approval": id}` as `createApproval` enqueues it) is next due, epoch ms,
 * while it is still to run or retry (pending or running; a running job's time
 * is when it was claimed). Null once it finished, posted or given up for good
 * (`dead`), or was pruned.
 */
export async function cardPostUnderWay(db: Db, id: string): Promise<number | null> {
  const row = await db.get(
    db.q
      .selectFrom('jobs')
      .select('run_at')
      .where('kind', '=', APPROVAL_POST_JOB)
      .where('payload', '=', JSON.stringify({ approval: id }))
      .where('status', 'in', ['pending', 'running'])
      .limit(1),
  );
  return row === undefined ? null : Number(row.run_at);
}

export async function cardsOf(db: Db, id: string): Promise<Card[]> {
  return await db.all(db.q.selectFrom('approval_cards').select(['destination', 'channel', 'ts']).where('approval_id', '=', id));
}

export async function recordCard(db: Db, id: string, card: Card): Promise<void> {
  await db.run(
    db.q
      .insertInto('approval_cards')
      .values({ approval_id: id, destination: card.destination, channel: card.channel, ts: card.ts })
      .onConflict((oc) => oc.doNothing()),
  );
}

/** One request is DMed to at most this many Owners (the longest-standing), when no channel is set. */
export const MAX_CARD_DMS = LIMITS.cardDmsPerRequest;

/**
 * Where a request's card goes: the approvals channel, or the project's
 * longest-standing Owners by DM (at most `MAX_CARD_DMS`). `live` is false once
 * the project is deleted: then no card is posted at all.
 */
export async function cardDestinations(db: Db, projectId: number): Promise<{ channel: string | null; owners: string[]; live: boolean }> {
  const project = (await db.get(db.q.selectFrom('projects').select(['approvals_channel', 'deleted_at']).where('id', '=', projectId)))!;
  const owners = (await db
    .all(
      db.q
        .selectFrom('memberships')
        .select('user_id')
        .where('project_id', '=', projectId)
        .where('role', '=', 'owner')
        .orderBy('created_at')
        .orderBy('user_id')
        .limit(MAX_CARD_DMS),
    ))
    .map((o) => o.user_id);
  return { channel: project.approvals_channel, owners, live: project.deleted_at === null };
}

/** Requests named in one Owner's expiry notice; past this, "and N more". */
export const EXPIRY_NOTICE_SHOWN = 10;

export interface ExpiryNotice {
  readonly project: string;
  /** The first `EXPIRY_NOTICE_SHOWN` requests, oldest first. */
  readonly approvals: readonly { id: string; action: string; expiresAt: number }[];
  /** How many requests the notice covers in all. */
  readonly total: number;
  /** The Owners to tell (the longest-standing, at most `LIMITS.cardDmsPerRequest`). */
  readonly owners: readonly string[];
}

/**
 * Claims, in one transaction, every request of the project that expired
 * undecided (its time ran out) after a card asked someone, and whose Owners
 * have not been told: they are marked told, so the notice goes once however
 * many expiry jobs, replicas or retries get here. Null when there is nothing
 * to tell or the project is deleted. `deliver` runs inside the transaction
 * (it schedules each Owner's DM as a job of its own), so a claim without its
 * DMs never commits.
 */
export async function claimExpiryNotice(ctx: ServiceContext, projectId: number, deliver: (notice: ExpiryNotice) => Promise<void>): Promise<ExpiryNotice | null> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const project = await db.get(db.q.selectFrom('projects').select(['name', 'deleted_at']).where('id', '=', projectId));
    if (!project || project.deleted_at !== null) return null;
    const rows = await db.all(
      db.q
        .selectFrom('approvals')
        .select(['id', 'action', 'expires_at'])
        .where('project_id', '=', projectId)
        .where('status', '=', 'expired')
        .where('owners_told_at', 'is', null)
        .whereRef('decided_at', '>=', 'expires_at')
        // A request that lapsed before any card was posted is told by the post job (`approval.lost_notice`).
        .where((eb) => eb.exists(eb.selectFrom('approval_cards').select('approval_id').whereRef('approval_cards.approval_id', '=', 'approvals.id')))
        .orderBy('expires_at')
        .orderBy('id'),
    );
    if (rows.length === 0) return null;
    await db.run(db.q.updateTable('approvals').set({ owners_told_at: at }).where('id', 'in', rows.map((r) => r.id)));
    const { owners } = await cardDestinations(db, projectId);
    const notice: ExpiryNotice = {
      project: project.name,
      approvals: rows.slice(0, EXPIRY_NOTICE_SHOWN).map((r) => ({ id: r.id, action: r.action, expiresAt: r.expires_at })),
      total: rows.length,
      owners,
    };
    await deliver(notice);
    return notice;
  });
}

/**
 * Escalates a pending request once: sets `escalated_at` and, in the same
 * transaction, `schedule` queues the messages (a thread reply, DMs). `people`
 * are the project's Admins and Owners who have not approved it yet, longest
 * standing first, at most `LIMITS.cardDmsPerRequest`. Null when the request is decided, expired,
 * already escalated (another replica, an earlier run), or its project deleted.
 */
export async function claimEscalation(
  ctx: ServiceContext,
  id: string,
  schedule: (approval: Approval, people: readonly string[]) => Promise<void>,
): Promise<Approval | null> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const { changes } = await db.run(
      db.q
        .updateTable('approvals')
        .set({ escalated_at: at })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('expires_at', '>', at)
        .where('escalated_at', 'is', null)
        // Escalation turned off (or the project deleted) since the request was made: nobody is called.
        .where(({ exists, selectFrom }) =>
          exists(
            selectFrom('projects')
              .select('projects.id')
              .whereRef('projects.id', '=', 'approvals.project_id')
              .where('projects.escalate_after_seconds', 'is not', null)
              .where('projects.deleted_at', 'is', null),
          ),
        ),
    );
    if (changes === 0) return null;
    const approval = (await findApproval(ctx, id))!;
    const live = await db.get(db.q.selectFrom('projects').select('deleted_at').where('id', '=', approval.projectId));
    if (!live || live.deleted_at !== null) return null;
    const people = (
      await db.all(
        db.q
          .selectFrom('memberships')
          .select('user_id')
          .where('project_id', '=', approval.projectId)
          .where('role', 'in', ['owner', 'admin'])
          // Someone who already approved it cannot decide it further: only the others are asked, before the bound.
          .where(({ not, exists, selectFrom }) =>
            not(exists(selectFrom('approval_votes').select('approval_votes.user_id').where('approval_votes.approval_id', '=', id).whereRef('approval_votes.user_id', '=', 'memberships.user_id'))),
          )
          .orderBy('created_at')
          .orderBy('user_id')
          .limit(LIMITS.cardDmsPerRequest),
      )
    ).map((m) => m.user_id);
    await recordEvent(db, at, {
      projectId: approval.projectId,
      actor: SYSTEM_ACTOR,
      action: 'approval.escalated',
      details: { approval: id, people: people.length },
    });
    await schedule(approval, people);
    return approval;
  });
}
