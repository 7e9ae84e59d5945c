/**
 * Human approvals requested by JamJet SDKs. The first decision wins: it is
 * one conditional UPDATE, so concurrent presses, processes and the expiry
 * job cannot both succeed.
 */
import { randomBytes } from 'node:crypto';
import { redact, redactValue } from '../core/secrets.ts';
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

function toApproval(r: Selectable<ApprovalsTable>, now: number): Approval {
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
  };
}

export async function findApproval(ctx: ServiceContext, id: string): Promise<Approval | null> {
  const row = await ctx.db.get(ctx.db.q.selectFrom('approvals').selectAll().where('id', '=', id));
  return row ? toApproval(row, ctx.now()) : null;
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
    const project = (await db.get(db.q.selectFrom('projects').select('approval_timeout_seconds').where('id', '=', key.projectId)))!;
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
          action: redact(action),
          // Value by value: a pattern over the serialised JSON could swallow fields or break it.
          context: JSON.stringify(redactValue(context)),
          status: 'pending',
          created_at: at,
          expires_at: expiresAt,
        })
        .returningAll(),
    ))!;
    await ctx.jobs.enqueue(APPROVAL_POST_JOB, { approval: id }, at);
    await ctx.jobs.enqueue(APPROVAL_EXPIRE_JOB, { approval: id }, expiresAt);
    await recordEvent(db, at, {
      projectId: key.projectId,
      actor: `key:${key.publicId}`,
      action: 'approval.requested',
      details: { approval: id, action: redact(action).slice(0, 200), expires_at: expiresAt },
    });
    return ok(toApproval(row, at));
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

/** The first decision wins; a later one learns who decided. */
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
    const at = ctx.now();
    // The reason goes back to the agent and onto every card: it is redacted like everything else people type.
    const cleanReason = reason === null ? null : redact(reason);
    const { changes } = await db.run(
      db.q
        .updateTable('approvals')
        .set({ status: decision, reason: cleanReason, decided_by: actor.userId, decided_at: at })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('expires_at', '>', at),
    );
    if (changes === 0) return fail('already_done', decidedSentence((await findApproval(ctx, id))!));
    await recordEvent(db, at, {
      projectId: allowed.value.approval.projectId,
      actor: actor.userId,
      action: `approval.${decision}`,
      details: { approval: id, ...(cleanReason ? { reason: cleanReason.slice(0, 500) } : {}) },
    });
    await ctx.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, at);
    return ok((await findApproval(ctx, id))!);
  });
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
  return ok({ project, approvals: rows.map((r) => toApproval(r, at)) });
}

/**
 * Pending requests a person may decide, newest first, for App Home. The
 * person's authority is part of the query, before the limit: requests they
 * may not decide never take the places of those they may.
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
      .orderBy('approvals.created_at', 'desc')
      .orderBy('approvals.id', 'desc')
      .limit(limit),
  );
  return rows.map(({ project_name, ...r }) => ({ approval: toApproval(r, at), project: project_name }));
}

export interface Card {
  readonly destination: string;
  readonly channel: string;
  readonly ts: string;
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
