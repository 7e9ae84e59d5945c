/**
 * GitHub Actions secrets a project's key is written to on rotation. The bot
 * writes only the names it was linked to; unlinking forgets the target and
 * never deletes the secret on GitHub.
 */
import { fail, ok, type AppError, type Result } from '../core/errors.ts';
import type { Db } from '../db/database.ts';
import { jsonField } from '../db/dialect.ts';
import type { Selectable } from 'kysely';
import { describeTarget } from '../github/names.ts';
import type { SecretTarget } from '../github/types.ts';
import type { GithubTargetsTable, TargetKind } from '../db/schema.ts';
import { authorize, effectiveRole, projectName, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import { SYSTEM_ACTOR, type Actor, type ServiceContext } from './context.ts';
import { checkAuthority, type AuthorityRefusal, type GitHubPorts } from './github-connections.ts';

export interface TargetSpec {
  readonly kind: TargetKind;
  /** The repository owner, or the organisation for `org`. */
  readonly owner: string;
  readonly repo: string | null;
  readonly environment: string | null;
  /** For organisation secrets the bot creates; an existing one keeps its own. */
  readonly visibility: 'all' | 'private' | null;
  /** Upper-cased, as GitHub stores secret names. */
  readonly secretName: string;
}

export interface Target extends TargetSpec {
  readonly id: number;
  readonly projectId: number;
  readonly createdBy: string;
  readonly createdAt: number;
  /** Set while the linker is no longer Admin or Owner: the target is kept but not written. */
  readonly pausedAt: number | null;
  /** Why: `linker_lost_role`, or `linked_without_github_authority` (linked before links needed GitHub's word). */
  readonly pausedReason: string | null;
}

const MAX_TARGETS = 25;
/** The bot only ever writes secrets named like this. */
export const SECRET_PREFIX = 'JAMJET_';

/**
 * A name folded the way GitHub's database may compare it: without case, and
 * (for environment names, which may hold any letter) compatibility forms,
 * accents and invisible characters folded too, so `ｐｒｏｄ` or `prōd` cannot
 * pass for another `prod`.
 */
const lower = (x: string | null) =>
  (x ?? '')
    .normalize('NFKD')
    .replace(/[\p{M}\p{Default_Ignorable_Code_Point}]/gu, '')
    .toLowerCase();

/**
 * A secret's identity as GitHub compares it: owner, repository and
 * environment names without case, secret names upper-cased.
 */
export function secretKey(t: TargetSpec): string {
  return [t.kind, lower(t.owner), lower(t.repo), lower(t.environment), t.secretName.toUpperCase()].join('/');
}

/** How `a` meets `b` under GitHub's precedence (environment over repository over organisation). */
export type Overlap = 'same' | 'shadows' | 'shadowed';

const RANK: Record<TargetKind, number> = { environment: 3, repo: 2, org: 1 };

/**
 * Whether a workflow could read `a` where it read `b` before, or the other
 * way round: the same secret, or the same name one level up or down the
 * precedence in the same repository or organisation.
 */
export function overlap(a: TargetSpec, b: TargetSpec): Overlap | null {
  if (a.secretName.toUpperCase() !== b.secretName.toUpperCase() || lower(a.owner) !== lower(b.owner)) return null;
  if (secretKey(a) === secretKey(b)) return 'same';
  if (a.kind === b.kind) return null;
  // Below the organisation, both must be in the same repository.
  if (a.kind !== 'org' && b.kind !== 'org' && lower(a.repo) !== lower(b.repo)) return null;
  return RANK[a.kind] > RANK[b.kind] ? 'shadows' : 'shadowed';
}

/** `JAMJET_API_KEY`, or `JAMJET_API_KEY_PROD` for an environment project. */
export function defaultSecretName(project: Project): string {
  return project.environment ? `JAMJET_API_KEY_${project.environment.toUpperCase().replace(/-/g, '_')}` : 'JAMJET_API_KEY';
}

/** The target as the GitHub module names it. */
export function toSecretTarget(t: TargetSpec): SecretTarget {
  if (t.kind === 'org') return { kind: 'org', org: t.owner, secretName: t.secretName, visibility: t.visibility ?? 'private' };
  if (t.kind === 'environment') {
    return { kind: 'environment', owner: t.owner, repo: t.repo!, environment: t.environment!, secretName: t.secretName };
  }
  return { kind: 'repo', owner: t.owner, repo: t.repo!, secretName: t.secretName };
}

export const describeSpec = (t: TargetSpec): string => describeTarget(toSecretTarget(t));

export function toTarget(r: Selectable<GithubTargetsTable>): Target {
  return {
    id: r.id,
    projectId: r.project_id,
    kind: r.kind,
    owner: r.owner,
    repo: r.repo,
    environment: r.environment,
    visibility: r.visibility,
    secretName: r.secret_name,
    createdBy: r.created_by,
    createdAt: r.created_at,
    pausedAt: r.paused_at,
    pausedReason: r.paused_reason,
  };
}

export async function targetsOf(db: Db, projectId: number): Promise<Target[]> {
  return (await db
    .all(
      db.q
        .selectFrom('github_targets')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('removed_at', 'is', null)
        .orderBy('id'),
    ))
    .map(toTarget);
}

/** Why a link is refused before or without asking GitHub. */
export type LinkConflict =
  | { readonly kind: 'bad_prefix' }
  | { readonly kind: 'already_linked'; readonly target: Target }
  /** Another project holds this secret, or one it shadows or is shadowed by; `project` only when the actor may see that project. */
  | { readonly kind: 'held'; readonly overlap: Overlap; readonly other: Target; readonly project: string | null }
  | { readonly kind: 'too_many'; readonly max: number };

/** Live (linked, paused or not) targets anywhere that overlap `spec`, from other projects. */
async function conflictOf(db: Db, actor: Actor, project: Project, spec: TargetSpec): Promise<LinkConflict | null> {
  if (!spec.secretName.toUpperCase().startsWith(SECRET_PREFIX)) return { kind: 'bad_prefix' };
  const live = (await db
    .all(db.q.selectFrom('github_targets').selectAll().where('removed_at', 'is', null).where((eb) => eb(eb.fn('upper', ['secret_name']), '=', spec.secretName.toUpperCase()))))
    .map(toTarget);
  for (const other of live) {
    const how = overlap(spec, other);
    if (!how) continue;
    if (other.projectId === project.id) {
      // The project's own secrets may sit at several levels; the same one twice is a repeat (or a re-link of a paused one).
      if (how === 'same' && other.pausedAt === null) return { kind: 'already_linked', target: other };
      continue;
    }
    const canSee = await effectiveRole(db, other.projectId, actor) !== null;
    return { kind: 'held', overlap: how, other, project: canSee ? await projectName(db, other.projectId) : null };
  }
  if ((await targetsOf(db, project.id)).length >= MAX_TARGETS) return { kind: 'too_many', max: MAX_TARGETS };
  return null;
}

/** Everything that stops a link, with the names a reply needs. */
export type LinkRefusal =
  | { readonly kind: 'access'; readonly error: AppError }
  | LinkConflict
  | { readonly kind: 'authority'; readonly refusal: AuthorityRefusal }
  /** GitHub could not be read with the bot's credential, or said no. */
  | { readonly kind: 'github'; readonly message: string }
  /** The bot's credential could read but not write there. */
  | { readonly kind: 'bot_cannot_write'; readonly missing: string }
  /** The secret exists and this bot did not write it last. */
  | { readonly kind: 'exists'; readonly updatedAt: string };

export type LinkResult = { ok: true; value: { target: Target; relinked: boolean; replaced: boolean } } | { ok: false; refusal: LinkRefusal };

const refuse = (refusal: LinkRefusal): { ok: false; refusal: LinkRefusal } => ({ ok: false, refusal });

/**
 * `github link`: the actor's project role (Admin and up), one owner per
 * secret, the actor's authority on GitHub (docs/ARCHITECTURE.md, section 7: repository admin, or
 * an active organisation admin; JAMJET_ADMIN_USERS without asking), the
 * bot's own credential able to write there, and a secret that already exists
 * only when this bot wrote it last or `replaceExisting`. Then the target is
 * saved (or a paused one of the project re-linked under the actor's name).
 */
export async function linkTarget(
  ctx: ServiceContext,
  ports: GitHubPorts,
  actor: Actor,
  name: string,
  spec: TargetSpec,
  replaceExisting: boolean,
): Promise<LinkResult> {
  let wanted = { ...spec, secretName: spec.secretName.toUpperCase() };
  const access = await authorize(ctx.db, actor, name, 'manage_keys');
  if (!access.ok) return refuse({ kind: 'access', error: access.error });
  // What other projects link is told only to someone GitHub backs there: before that, only this project's own refusals.
  const early = await conflictOf(ctx.db, actor, access.value.project, wanted);
  if (early && early.kind !== 'held') return refuse(early);

  const authority = await checkAuthority(ctx, ports, actor, wanted);
  if (!authority.ok) return refuse({ kind: 'authority', refusal: authority.refusal });
  // The names GitHub answered with: an old name of a renamed repository, or another case, is the same secret.
  if (authority.value.kind === 'github') wanted = { ...wanted, owner: authority.value.owner, repo: authority.value.repo ?? wanted.repo };
  const held = await conflictOf(ctx.db, actor, access.value.project, wanted);
  if (held) return refuse(held);

  const inspection = await ports.store.inspect(toSecretTarget(wanted));
  if (!inspection.ok) return refuse({ kind: 'github', message: inspection.message });
  if (inspection.missing) return refuse({ kind: 'bot_cannot_write', missing: inspection.missing });
  const existing = inspection.existing;
  const ours = existing !== null && await wroteLast(ctx.db, wanted, existing.updatedAt);
  if (existing && !ours && !replaceExisting) return refuse({ kind: 'exists', updatedAt: existing.updatedAt });

  const { db } = ctx;
  return await db.transaction(async (): Promise<LinkResult> => {
    // Checked again: the answer from GitHub took a while, and the rules are the database's.
    const again = await authorize(db, actor, name, 'manage_keys');
    if (!again.ok) return refuse({ kind: 'access', error: again.error });
    const { project } = again.value;
    const conflict = await conflictOf(db, actor, project, wanted);
    if (conflict) return refuse(conflict);
    const at = ctx.now();
    const paused = (await targetsOf(db, project.id)).find((t) => t.pausedAt !== null && secretKey(t) === secretKey(wanted));
    let id: number;
    if (paused) {
      await db.run(
        db.q
          .updateTable('github_targets')
          .set({ paused_at: null, paused_reason: null, created_by: actor.userId, created_at: at })
          .where('id', '=', paused.id),
      );
      id = paused.id;
    } else {
      id = (await db.get(
        db.q
          .insertInto('github_targets')
          .values({
            project_id: project.id,
            kind: wanted.kind,
            owner: wanted.owner,
            repo: wanted.repo,
            environment: wanted.environment,
            visibility: wanted.visibility,
            secret_name: wanted.secretName,
            created_by: actor.userId,
            created_at: at,
          })
          .returning('id'),
      ))!.id;
    }
    const replaced = existing !== null && !ours;
    await recordEvent(db, at, {
      projectId: project.id,
      actor: actor.userId,
      action: paused ? 'github.relinked' : 'github.linked',
      details: {
        target: id,
        kind: wanted.kind,
        owner: wanted.owner,
        repo: wanted.repo,
        environment: wanted.environment,
        secret: wanted.secretName,
        authority: authority.value.kind === 'github' ? { github_login: authority.value.login } : 'jamjet_admin',
        ...(replaced ? { replaced_existing: existing.updatedAt } : {}),
      },
    });
    const target = (await targetsOf(db, project.id)).find((t) => t.id === id)!;
    return { ok: true, value: { target, relinked: paused !== undefined, replaced } };
  });
}

/** Whether GitHub's `updatedAt` is the one read back right after this bot's own last write of the secret. */
async function wroteLast(db: Db, spec: TargetSpec, updatedAt: string): Promise<boolean> {
  const row = await db.get(db.q.selectFrom('github_written_secrets').select('updated_at').where('secret_key', '=', secretKey(spec)));
  return row?.updated_at === updatedAt;
}

/** Remembers GitHub's `updated_at` after this bot wrote the secret (so a later link knows it is the bot's). */
export async function recordWritten(db: Db, at: number, spec: TargetSpec, updatedAt: string): Promise<void> {
  await db.run(
    db.q
      .insertInto('github_written_secrets')
      .values({ secret_key: secretKey(spec), updated_at: updatedAt, written_at: at })
      .onConflict((oc) => oc.column('secret_key').doUpdateSet({ updated_at: updatedAt, written_at: at })),
  );
}

/**
 * Lifecycle: pauses the live targets `userId` linked in the project. Call in
 * the transaction that took away their Admin or Owner role; returns them.
 */
export async function pauseTargetsOf(db: Db, at: number, projectId: number, userId: string, actor: string): Promise<Target[]> {
  const mine = (await targetsOf(db, projectId)).filter((t) => t.createdBy === userId && t.pausedAt === null);
  for (const target of mine) {
    await db.run(db.q.updateTable('github_targets').set({ paused_at: at, paused_reason: 'linker_lost_role' }).where('id', '=', target.id));
    await recordEvent(db, at, { projectId, actor, action: 'github.paused', details: { target: target.id, linked_by: userId } });
  }
  return mine.map((t) => ({ ...t, pausedAt: at, pausedReason: 'linker_lost_role' }));
}

/**
 * Lifecycle at start-up: pauses every live target whose linker is neither
 * Admin nor Owner of its project nor in `adminUsers` (JAMJET_ADMIN_USERS as
 * the bot now reads it), and every target linked before links needed
 * GitHub's word (its audit event records no `authority`): an Admin or Owner
 * whom GitHub backs may link it again. Role changes pause in their own
 * transaction; this catches what changed outside the bot: someone taken out
 * of JAMJET_ADMIN_USERS, or an upgrade. Returns the targets it paused.
 */
export async function pauseUnbackedTargets(db: Db, at: number, adminUsers: readonly string[]): Promise<Target[]> {
  return await db.transaction(async () => {
    const admins = new Set(adminUsers);
    // Links made since GitHub's word is asked record it (`authority`) in their audit event; older ones never had it.
    const backed = new Set(
      (await db
        .all(
          db.q
            .selectFrom('audit_events')
            .select(jsonField(db, 'details', 'target').as('target'))
            .where('action', 'in', ['github.linked', 'github.relinked'])
            .where(jsonField(db, 'details', 'authority'), 'is not', null),
        ))
        .map((r) => Number(r.target)),
    );
    const unbacked = (await db
      .all(
        db.q
          .selectFrom('github_targets')
          .innerJoin('projects', 'projects.id', 'github_targets.project_id')
          .leftJoin('memberships', (join) =>
            join.onRef('memberships.project_id', '=', 'github_targets.project_id').onRef('memberships.user_id', '=', 'github_targets.created_by'),
          )
          .selectAll('github_targets')
          .select('memberships.role')
          .where('github_targets.removed_at', 'is', null)
          .where('github_targets.paused_at', 'is', null)
          .where('projects.deleted_at', 'is', null),
      ))
      .map(({ role, ...row }) => ({
        target: toTarget(row),
        reason: !backed.has(row.id) ? 'linked_without_github_authority' : role !== 'owner' && role !== 'admin' && !admins.has(row.created_by) ? 'linker_lost_role' : null,
      }))
      .filter((r) => r.reason !== null);
    for (const { target, reason } of unbacked) {
      await db.run(db.q.updateTable('github_targets').set({ paused_at: at, paused_reason: reason }).where('id', '=', target.id));
      await recordEvent(db, at, { projectId: target.projectId, actor: SYSTEM_ACTOR, action: 'github.paused', details: { target: target.id, linked_by: target.createdBy, reason } });
    }
    return unbacked.map(({ target, reason }) => ({ ...target, pausedAt: at, pausedReason: reason }));
  });
}

/** Lifecycle: a deleted project's targets are unlinked, so their secrets may be linked again. Call in the delete's transaction. */
export async function freeTargetsOf(db: Db, at: number, projectId: number, actor: string): Promise<number> {
  const ids = (await targetsOf(db, projectId)).map((t) => t.id);
  if (ids.length === 0) return 0;
  await db.run(db.q.updateTable('github_targets').set({ removed_at: at }).where('id', 'in', ids));
  await recordEvent(db, at, { projectId, actor, action: 'github.unlinked', details: { targets: ids, reason: 'project_deleted' } });
  return ids.length;
}

export async function listTargets(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<{ project: Project; targets: Target[] }>> {
  const access = await authorize(ctx.db, actor, name, 'view');
  if (!access.ok) return access;
  return ok({ project: access.value.project, targets: await targetsOf(ctx.db, access.value.project.id) });
}

export async function unlinkTarget(ctx: ServiceContext, actor: Actor, name: string, targetId: number): Promise<Result<Target>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'manage_keys');
    if (!access.ok) return access;
    const { project } = access.value;
    const target = (await targetsOf(db, project.id)).find((t) => t.id === targetId);
    if (!target) return fail('not_found', `\`${name}\` has no GitHub target ${targetId}; see \`/jamjet github list ${name}\`.`);
    const at = ctx.now();
    await db.run(db.q.updateTable('github_targets').set({ removed_at: at }).where('id', '=', targetId));
    await recordEvent(db, at, { projectId: project.id, actor: actor.userId, action: 'github.unlinked', details: { target: targetId } });
    return ok(target);
  });
}
