/**
 * Resolving a project for a person. Someone without a role learns only that
 * they have no access: not whether the project exists, nor anything in it.
 */
import { can, ROLE_LABELS, weakestRoleFor, type Permission, type Role } from '../core/roles.ts';
import { fail, ok, type Result } from '../core/errors.ts';
import { sql, type RawBuilder, type Selectable } from 'kysely';
import type { Db } from '../db/database.ts';
import type { ProjectsTable } from '../db/schema.ts';
import type { Actor } from './context.ts';

export interface Project {
  readonly id: number;
  readonly name: string;
  readonly environment: string | null;
  readonly approvalsChannel: string | null;
  readonly approvalTimeoutSeconds: number;
  /** Distinct approvals a new request needs (1-5). */
  readonly approvalsRequired: number;
  /** Seconds after which a pending request is escalated; null: never. */
  readonly escalateAfterSeconds: number | null;
  readonly createdBy: string;
  readonly createdAt: number;
}

type ProjectRow = Selectable<ProjectsTable>;

export function toProject(row: ProjectRow): Project {
  return {
    id: row.id,
    name: row.name,
    environment: row.environment,
    approvalsChannel: row.approvals_channel,
    approvalTimeoutSeconds: row.approval_timeout_seconds,
    approvalsRequired: row.approvals_required,
    escalateAfterSeconds: row.escalate_after_seconds,
    createdBy: row.created_by,
    createdAt: row.created_at,
  };
}

/** What each permission lets someone do, for refusals that say what was needed. */
const DOING: Record<Permission, string> = {
  view: 'see it',
  decide_approval: 'decide approval requests',
  governance: 'change its settings',
  manage_keys: 'manage its API keys and GitHub targets',
  manage_members: 'manage its members',
  manage_owners: 'grant or take away the Owner role',
  delete_project: 'delete it',
};

export function noAccess(name: string) {
  return fail('no_access', `You have no access to project \`${name}\`, or it does not exist.`);
}

export function forbidden(name: string, role: Role, permission: Permission) {
  const needed = weakestRoleFor(permission);
  const atLeast = needed === 'owner' ? 'Owner' : `${ROLE_LABELS[needed]} or above`;
  return fail('forbidden', `You need to be ${atLeast} in \`${name}\` to ${DOING[permission]}; you are ${ROLE_LABELS[role]}.`);
}

/**
 * Projects by name, in byte order on either engine: SQLite compares text
 * bytewise; PostgreSQL would use the database's collation (with en_US, say,
 * `a-c` after `ab`, hyphens ignored), so it is told "C". For `orderBy`.
 */
export function byProjectName(db: Db): RawBuilder<string> {
  return db.engine === 'postgres' ? sql<string>`${sql.ref('projects.name')} collate "C"` : sql<string>`${sql.ref('projects.name')}`;
}

export async function findLiveProject(db: Db, name: string): Promise<Project | null> {
  const row = await db.get(db.q.selectFrom('projects').selectAll().where('name', '=', name).where('deleted_at', 'is', null));
  return row ? toProject(row) : null;
}

export async function findProjectById(db: Db, id: number): Promise<Project | null> {
  const row = await db.get(db.q.selectFrom('projects').selectAll().where('id', '=', id).where('deleted_at', 'is', null));
  return row ? toProject(row) : null;
}

/** A project's name for messages, deleted or not (keys and requests outlive their project). */
export async function projectName(db: Db, id: number): Promise<string> {
  return (await db.get(db.q.selectFrom('projects').select('name').where('id', '=', id)))?.name ?? 'deleted project';
}

export async function membershipRole(db: Db, projectId: number, userId: string): Promise<Role | null> {
  const row = await db.get(
    db.q.selectFrom('memberships').select('role').where('project_id', '=', projectId).where('user_id', '=', userId),
  );
  return row?.role ?? null;
}

/** The role that counts for permissions: someone in JAMJET_ADMIN_USERS acts as Owner. */
export async function effectiveRole(db: Db, projectId: number, actor: Actor): Promise<Role | null> {
  if (actor.isAdmin) return 'owner';
  return await membershipRole(db, projectId, actor.userId);
}

/** The project `name` when `actor` may do `permission` in it; otherwise the refusal to show. */
export async function authorize(
  db: Db,
  actor: Actor,
  name: string,
  permission: Permission,
): Promise<Result<{ project: Project; role: Role }>> {
  const project = await findLiveProject(db, name);
  if (!project) return noAccess(name);
  const role = await effectiveRole(db, project.id, actor);
  if (role === null) return noAccess(name);
  if (!can(role, permission)) return forbidden(name, role, permission);
  return ok({ project, role });
}

/** The same check for a project known by id (buttons carry ids). */
export async function authorizeById(
  db: Db,
  actor: Actor,
  projectId: number,
  permission: Permission,
): Promise<Result<{ project: Project; role: Role }>> {
  const project = await findProjectById(db, projectId);
  const result = project ? await authorize(db, actor, project.name, permission) : null;
  // A button's value can be forged: someone without a role learns nothing, not even the name.
  if (!result || (!result.ok && result.error.code === 'no_access')) {
    return fail('no_access', 'That project no longer exists, or you have no access to it.');
  }
  return result;
}
