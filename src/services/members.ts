/**
 * Memberships. Only Owners grant or take away Owner, and a project always
 * keeps at least one Owner.
 */
import { fail, ok, type Result } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { can, ROLE_LABELS, type Role } from '../core/roles.ts';
import type { Db } from '../db/database.ts';
import { insertionOrder } from '../db/dialect.ts';
import { authorize, byProjectName, forbidden, membershipRole, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import { SYSTEM_ACTOR, type Actor, type ServiceContext } from './context.ts';
import { pauseTargetsOf, type Target } from './github-targets.ts';
import { withdrawVotes } from './approvals.ts';

/** An e-mail invitation nobody took up within this long is void. */
export const INVITE_VALID_MS = 30 * 24 * 60 * 60_000;

export interface Member {
  readonly userId: string;
  readonly role: Role;
  readonly addedBy: string;
  readonly createdAt: number;
}

export interface PendingInvite {
  readonly email: string;
  readonly role: Role;
  readonly invitedBy: string;
  readonly createdAt: number;
}

export async function listMembers(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
): Promise<Result<{ project: Project; members: Member[]; invites: PendingInvite[] }>> {
  const { db } = ctx;
  const access = await authorize(db, actor, name, 'view');
  if (!access.ok) return access;
  const { project } = access.value;
  const members = (await db
    .all(db.q.selectFrom('memberships').selectAll().where('project_id', '=', project.id).orderBy('created_at').orderBy(insertionOrder(db, 'memberships'))))
    .map((m) => ({ userId: m.user_id, role: m.role, addedBy: m.added_by, createdAt: m.created_at }));
  const invites = (await db
    .all(
      db.q
        .selectFrom('pending_invites')
        .selectAll()
        .where('project_id', '=', project.id)
        .where('created_at', '>', ctx.now() - INVITE_VALID_MS)
        .orderBy('id'),
    ))
    .map((i) => ({ email: i.email, role: i.role, invitedBy: i.invited_by, createdAt: i.created_at }));
  return ok({ project, members, invites });
}

async function countOwners(db: Db, projectId: number): Promise<number> {
  const row = await db.get(
    db.q
      .selectFrom('memberships')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('project_id', '=', projectId)
      .where('role', '=', 'owner'),
  );
  return row?.n ?? 0;
}

/** Managing members needs Admin; anything that touches the Owner role needs Owner. */
async function authorizeMemberChange(db: Db, actor: Actor, name: string, touchesOwner: () => boolean) {
  const access = await authorize(db, actor, name, 'manage_members');
  if (!access.ok) return access;
  const { role } = access.value;
  if (touchesOwner() && role !== 'owner') return forbidden(name, role, 'manage_owners');
  return access;
}

/** Adds a Slack user to a project. */
export async function addMember(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  userId: string,
  role: Role,
): Promise<Result<{ project: Project }>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorizeMemberChange(db, actor, name, () => role === 'owner');
    if (!access.ok) return access;
    const { project } = access.value;
    const existing = await membershipRole(db, project.id, userId);
    if (existing) {
      return fail(
        'conflict',
        `<@${userId}> is already ${ROLE_LABELS[existing]} in \`${name}\`; use \`/jamjet members role\` to change it.`,
      );
    }
    const at = ctx.now();
    await db.run(
      db.q.insertInto('memberships').values({ project_id: project.id, user_id: userId, role, added_by: actor.userId, created_at: at }),
    );
    await recordEvent(db, at, { projectId: project.id, actor: actor.userId, action: 'member.added', details: { user: userId, role } });
    return ok({ project });
  });
}

/** Keeps an invitation for an address that is not in the workspace yet. */
export async function addPendingInvite(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  email: string,
  role: Role,
): Promise<Result<{ project: Project }>> {
  const { db } = ctx;
  const address = email.toLowerCase();
  return await db.transaction(async () => {
    const access = await authorizeMemberChange(db, actor, name, () => role === 'owner');
    if (!access.ok) return access;
    const { project } = access.value;
    // An invitation nobody took up in time makes room for a new one.
    await db.run(
      db.q
        .deleteFrom('pending_invites')
        .where('project_id', '=', project.id)
        .where('email', '=', address)
        .where('created_at', '<=', ctx.now() - INVITE_VALID_MS),
    );
    const existing = await db.get(
      db.q.selectFrom('pending_invites').select('role').where('project_id', '=', project.id).where('email', '=', address),
    );
    if (existing) {
      return fail('conflict', `${address} already has a pending invitation to \`${name}\` as ${ROLE_LABELS[existing.role]}.`);
    }
    const pending = (await db.get(
      db.q
        .selectFrom('pending_invites')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('project_id', '=', project.id)
        .where('created_at', '>', ctx.now() - INVITE_VALID_MS),
    ))!.n;
    if (pending >= LIMITS.pendingInvitesPerProject) {
      return fail(
        'conflict',
        `\`${name}\` already has ${LIMITS.pendingInvitesPerProject} pending e-mail invitations, the most a project may hold; withdraw one with \`/jamjet members remove ${name} <email>\` first.`,
      );
    }
    const at = ctx.now();
    await db.run(
      db.q
        .insertInto('pending_invites')
        .values({ project_id: project.id, email: address, role, invited_by: actor.userId, created_at: at }),
    );
    await recordEvent(db, at, { projectId: project.id, actor: actor.userId, action: 'member.invited', details: { email: address, role } });
    return ok({ project });
  });
}

/**
 * Takes back a pending e-mail invitation (`members remove <project> <email>`):
 * Admin and above; an invitation to become Owner only by an Owner. The
 * address compares without case.
 */
export async function withdrawInvite(ctx: ServiceContext, actor: Actor, name: string, email: string): Promise<Result<{ project: Project; role: Role }>> {
  const { db } = ctx;
  const address = email.toLowerCase();
  return await db.transaction(async () => {
    const access = await authorizeMemberChange(db, actor, name, () => false);
    if (!access.ok) return access;
    const { project, role: actorRole } = access.value;
    const invite = await db.get(
      db.q
        .selectFrom('pending_invites')
        .select(['id', 'role'])
        .where('project_id', '=', project.id)
        .where('email', '=', address)
        .where('created_at', '>', ctx.now() - INVITE_VALID_MS),
    );
    if (!invite) {
      return fail(
        'not_found',
        `${address} has no pending invitation to \`${name}\`; to remove a member, mention them: \`/jamjet members remove ${name} @name\`.`,
      );
    }
    if (invite.role === 'owner' && actorRole !== 'owner') return forbidden(name, actorRole, 'manage_owners');
    const at = ctx.now();
    await db.run(db.q.deleteFrom('pending_invites').where('id', '=', invite.id));
    await recordEvent(db, at, { projectId: project.id, actor: actor.userId, action: 'member.invite_withdrawn', details: { email: address, role: invite.role } });
    return ok({ project, role: invite.role });
  });
}

/**
 * Whether the person who made an invitation may still make it now: an
 * invitation is a ticket, checked when it is used. `isAdmin` says who acts
 * as Owner everywhere (JAMJET_ADMIN_USERS).
 */
async function inviterMayStill(db: Db, projectId: number, inviter: string, role: Role, isAdmin: (userId: string) => boolean): Promise<boolean> {
  if (isAdmin(inviter)) return true;
  const current = await membershipRole(db, projectId, inviter);
  return can(current, 'manage_members') && (role !== 'owner' || can(current, 'manage_owners'));
}

/**
 * Turns the pending invitations for `email` into memberships of `userId`.
 * An invitation whose inviter has since been removed or demoted below what
 * it needed is withdrawn instead (audited as `member.invite_lapsed`).
 */
export async function claimInvites(
  ctx: ServiceContext,
  userId: string,
  email: string,
  isAdmin: (userId: string) => boolean = () => false,
): Promise<{ project: string; role: Role }[]> {
  const { db } = ctx;
  const address = email.toLowerCase();
  return await db.transaction(async () => {
    const invites = await db.all(
      db.q
        .selectFrom('pending_invites')
        .innerJoin('projects', 'projects.id', 'pending_invites.project_id')
        .select(['pending_invites.id', 'pending_invites.project_id', 'pending_invites.role', 'pending_invites.invited_by', 'projects.name'])
        .where('pending_invites.email', '=', address)
        .where('pending_invites.created_at', '>', ctx.now() - INVITE_VALID_MS)
        .where('projects.deleted_at', 'is', null),
    );
    const at = ctx.now();
    const granted: { project: string; role: Role }[] = [];
    for (const invite of invites) {
      await db.run(db.q.deleteFrom('pending_invites').where('id', '=', invite.id));
      if (!await inviterMayStill(db, invite.project_id, invite.invited_by, invite.role, isAdmin)) {
        await recordEvent(db, at, {
          projectId: invite.project_id,
          actor: SYSTEM_ACTOR,
          action: 'member.invite_lapsed',
          details: { email: address, role: invite.role, invited_by: invite.invited_by, reason: 'the inviter may no longer invite' },
        });
        continue;
      }
      if (await membershipRole(db, invite.project_id, userId)) continue;
      await db.run(
        db.q.insertInto('memberships').values({
          project_id: invite.project_id,
          user_id: userId,
          role: invite.role,
          added_by: invite.invited_by,
          created_at: at,
        }),
      );
      await recordEvent(db, at, {
        projectId: invite.project_id,
        actor: userId,
        action: 'member.invite_claimed',
        details: { user: userId, email: address, role: invite.role },
      });
      granted.push({ project: invite.name, role: invite.role });
    }
    return granted;
  });
}

/**
 * Gives a member another role. A role below Member (Read-only) also
 * withdraws, in the same transaction, their approvals of the project's pending
 * requests (`withdrawn`: the request ids; see `withdrawVotes`), and pauses
 * the GitHub targets they linked when they drop below Admin (`paused`). Fails
 * `not_found`, `conflict` (same role), `forbidden`, `last_owner`.
 */
export async function changeRole(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  userId: string,
  role: Role,
): Promise<Result<{ project: Project; previous: Role; paused: Target[]; withdrawn: string[] }>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorizeMemberChange(db, actor, name, () => role === 'owner');
    if (!access.ok) return access;
    const { project, role: actorRole } = access.value;
    const previous = await membershipRole(db, project.id, userId);
    if (!previous) return fail('not_found', `<@${userId}> is not a member of \`${name}\`.`);
    if (previous === role) return fail('conflict', `<@${userId}> is already ${ROLE_LABELS[role]} in \`${name}\`.`);
    if (previous === 'owner' && actorRole !== 'owner') return forbidden(name, actorRole, 'manage_owners');
    if (previous === 'owner' && await countOwners(db, project.id) === 1) {
      return fail('last_owner', `<@${userId}> is the last Owner of \`${name}\`; make someone else Owner first.`);
    }
    const at = ctx.now();
    await db.run(
      db.q.updateTable('memberships').set({ role }).where('project_id', '=', project.id).where('user_id', '=', userId),
    );
    await recordEvent(db, at, {
      projectId: project.id,
      actor: actor.userId,
      action: 'member.role_changed',
      details: { user: userId, from: previous, to: role },
    });
    // GitHub targets they linked are no longer backed by someone who may manage keys.
    const paused = role === 'owner' || role === 'admin' ? [] : await pauseTargetsOf(db, at, project.id, userId, actor.userId);
    // Approvals they gave as a Member no longer count, and must not count again if the role comes back.
    const withdrawn = can(role, 'decide_approval')
      ? []
      : await withdrawVotes(db, ctx.jobs, at, { projectId: project.id, userId, actor: actor.userId, reason: `role changed to ${role}` });
    return ok({ project, previous, paused, withdrawn });
  });
}

/**
 * Removes a member. In the same transaction their approvals of the project's
 * pending requests are withdrawn (`withdrawn`: the request ids; see
 * `withdrawVotes`) and the GitHub targets they linked paused (`paused`).
 * Fails `not_found`, `forbidden`, `last_owner`.
 */
export async function removeMember(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  userId: string,
): Promise<Result<{ project: Project; previous: Role; paused: Target[]; withdrawn: string[] }>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorizeMemberChange(db, actor, name, () => false);
    if (!access.ok) return access;
    const { project, role: actorRole } = access.value;
    const previous = await membershipRole(db, project.id, userId);
    if (!previous) return fail('not_found', `<@${userId}> is not a member of \`${name}\`.`);
    if (previous === 'owner' && actorRole !== 'owner') return forbidden(name, actorRole, 'manage_owners');
    if (previous === 'owner' && await countOwners(db, project.id) === 1) {
      return fail('last_owner', `<@${userId}> is the last Owner of \`${name}\` and cannot be removed; make someone else Owner first.`);
    }
    const at = ctx.now();
    await db.run(db.q.deleteFrom('memberships').where('project_id', '=', project.id).where('user_id', '=', userId));
    await recordEvent(db, at, {
      projectId: project.id,
      actor: actor.userId,
      action: 'member.removed',
      details: { user: userId, role: previous },
    });
    const paused = await pauseTargetsOf(db, at, project.id, userId, actor.userId);
    const withdrawn = await withdrawVotes(db, ctx.jobs, at, { projectId: project.id, userId, actor: actor.userId, reason: 'removed from the project' });
    return ok({ project, previous, paused, withdrawn });
  });
}

/** Every project a person belongs to, with the role, for `whoami` and App Home. */
export async function rolesOf(ctx: ServiceContext, userId: string): Promise<{ project: string; projectId: number; role: Role }[]> {
  const { db } = ctx;
  return (await db
    .all(
      db.q
        .selectFrom('memberships')
        .innerJoin('projects', 'projects.id', 'memberships.project_id')
        .select(['projects.name', 'projects.id', 'memberships.role'])
        .where('memberships.user_id', '=', userId)
        .where('projects.deleted_at', 'is', null)
        .orderBy(byProjectName(db)),
    ))
    .map((r) => ({ project: r.name, projectId: r.id, role: r.role }));
}
