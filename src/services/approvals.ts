/**
 * Human approvals requested by JamJet SDKs. The first decision wins: it is
 * one conditional UPDATE, so concurrent presses, processes and the expiry
 * job cannot both succeed.
 */
import { randomBytes } from 'node:crypto';
import { redact } from '../core/secrets.ts';
import { fail, ok, type Result } from '../core/errors.ts';
import { can, type Role } from '../core/roles.ts';
import type { Db } from '../db/database.ts';
import type { ApprovalStatus, ApprovalsTable } from '../db/schema.ts';
import type { Selectable } from 'kysely';
import { authorize, authorizeById, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import { SYSTEM_ACTOR, type Actor, type ServiceContext } from './context.ts';
import type { KeyIdentity } from './key-auth.ts';

export const APPROVAL_POST_JOB = 'approval.post';
export const APPROVAL_EXPIRE_JOB = 'approval.expire';
export const APPROVAL_REFRESH_JOB = 'approval.refresh';

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

function toApproval(r: Selectable<ApprovalsTable>, now: number): Approval {
  const lapsed = r.status === 'pending' && now >= r.expires_at;
  return {
    id: r.id,
    projectId: r.project_id,
    keyId: r.key_id,
    action: r.action,
    context: JSON.parse(r.context) as Record<string, unknown>,
    status: lapsed ? 'expired' : r.status,
    reason: r.reason,
    decidedBy: r.decided_by,
    decidedAt: lapsed ? r.expires_at : r.decided_at,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

export function findApproval(ctx: ServiceContext, id: string): Approval | null {
  const row = ctx.db.get(ctx.db.q.selectFrom('approvals').selectAll().where('id', '=', id));
  return row ? toApproval(row, ctx.now()) : null;
}

/** Records a request from an SDK; its card is posted by a job, so a Slack outage loses nothing. */
export function createApproval(
  ctx: ServiceContext,
  key: KeyIdentity,
  action: string,
  context: Record<string, unknown>,
): Approval {
  const { db } = ctx;
  return db.transaction(() => {
    const at = ctx.now();
    const project = db.get(db.q.selectFrom('projects').select('approval_timeout_seconds').where('id', '=', key.projectId))!;
    const id = `apr_${randomBytes(12).toString('hex')}`;
    const expiresAt = at + project.approval_timeout_seconds * 1000;
    const row = db.get(
      db.q
        .insertInto('approvals')
        .values({
          id,
          project_id: key.projectId,
          key_id: key.keyId,
          // An agent may paste a key or token by mistake: it is never stored or shown.
          action: redact(action),
          context: redact(JSON.stringify(context)),
          status: 'pending',
          created_at: at,
          expires_at: expiresAt,
        })
        .returningAll(),
    )!;
    ctx.jobs.enqueue(APPROVAL_POST_JOB, { approval: id }, at);
    ctx.jobs.enqueue(APPROVAL_EXPIRE_JOB, { approval: id }, expiresAt);
    recordEvent(db, at, {
      projectId: key.projectId,
      actor: `key:${key.publicId}`,
      action: 'approval.requested',
      details: { approval: id, action: redact(action).slice(0, 200), expires_at: expiresAt },
    });
    return toApproval(row, at);
  });
}

/** An approval as the key's project sees it; null for another project's request. */
export function approvalForKey(ctx: ServiceContext, key: KeyIdentity, id: string): Approval | null {
  const approval = findApproval(ctx, id);
  return approval && approval.projectId === key.projectId ? approval : null;
}

/** Checks that the actor may decide, before a modal opens or a decision is written. */
export function checkCanDecide(ctx: ServiceContext, actor: Actor, id: string): Result<{ approval: Approval; project: Project }> {
  const approval = findApproval(ctx, id);
  if (!approval) return fail('not_found', 'This approval request no longer exists.');
  const access = authorizeById(ctx.db, actor, approval.projectId, 'decide_approval');
  if (!access.ok) return access;
  return ok({ approval, project: access.value.project });
}

export function decidedSentence(a: Approval): string {
  if (a.status === 'expired') return 'This request has expired; nothing was decided.';
  return `This request was already ${a.status} by <@${a.decidedBy}>.`;
}

/** The first decision wins; a later one learns who decided. */
export function decideApproval(
  ctx: ServiceContext,
  actor: Actor,
  id: string,
  decision: Decision,
  reason: string | null,
): Result<Approval> {
  const { db } = ctx;
  return db.transaction(() => {
    const allowed = checkCanDecide(ctx, actor, id);
    if (!allowed.ok) return allowed;
    const at = ctx.now();
    const { changes } = db.run(
      db.q
        .updateTable('approvals')
        .set({ status: decision, reason, decided_by: actor.userId, decided_at: at })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('expires_at', '>', at),
    );
    if (changes === 0) return fail('already_done', decidedSentence(findApproval(ctx, id)!));
    recordEvent(db, at, {
      projectId: allowed.value.approval.projectId,
      actor: actor.userId,
      action: `approval.${decision}`,
      details: { approval: id, ...(reason ? { reason: reason.slice(0, 500) } : {}) },
    });
    ctx.jobs.enqueue(APPROVAL_REFRESH_JOB, { approval: id }, at);
    return ok(findApproval(ctx, id)!);
  });
}

/** The timeout passed: true when this call expired it. */
export function expireApproval(ctx: ServiceContext, id: string): boolean {
  const { db } = ctx;
  return db.transaction(() => {
    const at = ctx.now();
    const { changes } = db.run(
      db.q
        .updateTable('approvals')
        .set({ status: 'expired', decided_at: at })
        .where('id', '=', id)
        .where('status', '=', 'pending')
        .where('expires_at', '<=', at),
    );
    if (changes === 0) return false;
    const approval = findApproval(ctx, id)!;
    recordEvent(db, at, { projectId: approval.projectId, actor: SYSTEM_ACTOR, action: 'approval.expired', details: { approval: id } });
    return true;
  });
}

export function listPending(ctx: ServiceContext, actor: Actor, name: string): Result<{ project: Project; approvals: Approval[] }> {
  const access = authorize(ctx.db, actor, name, 'view');
  if (!access.ok) return access;
  const { project } = access.value;
  const at = ctx.now();
  const rows = ctx.db.all(
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

/** Pending requests a person may decide, newest first, for App Home. */
export function decidableBy(ctx: ServiceContext, actor: Actor, limit = 20): { approval: Approval; project: string }[] {
  const { db } = ctx;
  const at = ctx.now();
  const rows = db.all(
    db.q
      .selectFrom('approvals')
      .innerJoin('projects', 'projects.id', 'approvals.project_id')
      .leftJoin('memberships', (j) =>
        j.onRef('memberships.project_id', '=', 'approvals.project_id').on('memberships.user_id', '=', actor.userId),
      )
      .selectAll('approvals')
      .select(['projects.name as project_name', 'memberships.role as role'])
      .where('approvals.status', '=', 'pending')
      .where('approvals.expires_at', '>', at)
      .where('projects.deleted_at', 'is', null)
      .orderBy('approvals.created_at', 'desc')
      .limit(200),
  );
  return rows
    .filter((r) => actor.isAdmin || can(r.role as Role | null, 'decide_approval'))
    .slice(0, limit)
    .map(({ project_name, role: _role, ...r }) => ({ approval: toApproval(r, at), project: project_name }));
}

export interface Card {
  readonly destination: string;
  readonly channel: string;
  readonly ts: string;
}

export function cardsOf(db: Db, id: string): Card[] {
  return db.all(db.q.selectFrom('approval_cards').select(['destination', 'channel', 'ts']).where('approval_id', '=', id));
}

export function recordCard(db: Db, id: string, card: Card): void {
  db.run(
    db.q
      .insertInto('approval_cards')
      .values({ approval_id: id, destination: card.destination, channel: card.channel, ts: card.ts })
      .onConflict((oc) => oc.doNothing()),
  );
}

/** Where a request's card goes: the approvals channel, or each Owner by DM. */
export function cardDestinations(db: Db, projectId: number): { channel: string | null; owners: string[] } {
  const project = db.get(db.q.selectFrom('projects').select('approvals_channel').where('id', '=', projectId))!;
  const owners = db
    .all(db.q.selectFrom('memberships').select('user_id').where('project_id', '=', projectId).where('role', '=', 'owner'))
    .map((o) => o.user_id);
  return { channel: project.approvals_channel, owners };
}
