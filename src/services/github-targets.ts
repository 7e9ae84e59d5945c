/**
 * GitHub Actions secrets a project's key is written to on rotation. The bot
 * writes only the names it was linked to; unlinking forgets the target and
 * never deletes the secret on GitHub.
 */
import { fail, ok, type AppError, type Result } from '../core/errors.ts';
import type { Db } from '../db/database.ts';
import type { Selectable } from 'kysely';
import { describeTarget } from '../github/names.ts';
import type { SecretTarget } from '../github/types.ts';
import type { GithubTargetsTable, TargetKind } from '../db/schema.ts';
import { authorize, effectiveRole, projectName, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import type { Actor, ServiceContext } from './context.ts';
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
}

const MAX_TARGETS = 25;
/** The bot only ever writes secrets named like this. */
export const SECRET_PREFIX = 'JAMJET_';

const lower = (x: string | null) => (x ?? '').toLowerCase();

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
  };
}

export function targetsOf(db: Db, projectId: number): Target[] {
  return db
    .all(
      db.q
        .selectFrom('github_targets')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('removed_at', 'is', null)
        .orderBy('id'),
    )
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
function conflictOf(db: Db, actor: Actor, project: Project, spec: TargetSpec): LinkConflict | null {
  if (!spec.secretName.toUpperCase().startsWith(SECRET_PREFIX)) return { kind: 'bad_prefix' };
  const live = db
    .all(db.q.selectFrom('github_targets').selectAll().where('removed_at', 'is', null).where((eb) => eb(eb.fn('upper', ['secret_name']), '=', spec.secretName.toUpperCase())))
    .map(toTarget);
  for (const other of live) {
    const how = overlap(spec, other);
    if (!how) continue;
    if (other.projectId === project.id) {
      // The project's own secrets may sit at several levels; the same one twice is a repeat (or a re-link of a paused one).
      if (how === 'same' && other.pausedAt === null) return { kind: 'already_linked', target: other };
      continue;
    }
    const canSee = effectiveRole(db, other.projectId, actor) !== null;
    return { kind: 'held', overlap: how, other, project: canSee ? projectName(db, other.projectId) : null };
  }
  if (targetsOf(db, project.id).length >= MAX_TARGETS) return { kind: 'too_many', max: MAX_TARGETS };
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
  const wanted = { ...spec, secretName: spec.secretName.toUpperCase() };
  const access = authorize(ctx.db, actor, name, 'manage_keys');
  if (!access.ok) return refuse({ kind: 'access', error: access.error });
  const early = conflictOf(ctx.db, actor, access.value.project, wanted);
  if (early) return refuse(early);

  const authority = await checkAuthority(ctx, ports, actor, wanted);
  if (!authority.ok) return refuse({ kind: 'authority', refusal: authority.refusal });

  const inspection = await ports.store.inspect(toSecretTarget(wanted));
  if (!inspection.ok) return refuse({ kind: 'github', message: inspection.message });
  if (inspection.missing) return refuse({ kind: 'bot_cannot_write', missing: inspection.missing });
  const existing = inspection.existing;
  const ours = existing !== null && wroteLast(ctx.db, wanted, existing.updatedAt);
  if (existing && !ours && !replaceExisting) return refuse({ kind: 'exists', updatedAt: existing.updatedAt });

  const { db } = ctx;
  return db.transaction((): LinkResult => {
    // Checked again: the answer from GitHub took a while, and the rules are the database's.
    const again = authorize(db, actor, name, 'manage_keys');
    if (!again.ok) return refuse({ kind: 'access', error: again.error });
    const { project } = again.value;
    const conflict = conflictOf(db, actor, project, wanted);
    if (conflict) return refuse(conflict);
    const at = ctx.now();
    const paused = targetsOf(db, project.id).find((t) => t.pausedAt !== null && secretKey(t) === secretKey(wanted));
    let id: number;
    if (paused) {
      db.run(
        db.q
          .updateTable('github_targets')
          .set({ paused_at: null, paused_reason: null, created_by: actor.userId, created_at: at })
          .where('id', '=', paused.id),
      );
      id = paused.id;
    } else {
      id = db.get(
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
      )!.id;
    }
    const replaced = existing !== null && !ours;
    recordEvent(db, at, {
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
    const target = targetsOf(db, project.id).find((t) => t.id === id)!;
    return { ok: true, value: { target, relinked: paused !== undefined, replaced } };
  });
}

/** Whether GitHub's `updatedAt` is the one read back right after this bot's own last write of the secret. */
function wroteLast(db: Db, spec: TargetSpec, updatedAt: string): boolean {
  const row = db.get(db.q.selectFrom('github_written_secrets').select('updated_at').where('secret_key', '=', secretKey(spec)));
  return row?.updated_at === updatedAt;
}

/** Remembers GitHub's `updated_at` after this bot wrote the secret (so a later link knows it is the bot's). */
export function recordWritten(db: Db, at: number, spec: TargetSpec, updatedAt: string): void {
  db.run(
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
export function pauseTargetsOf(db: Db, at: number, projectId: number, userId: string, actor: string): Target[] {
  const mine = targetsOf(db, projectId).filter((t) => t.createdBy === userId && t.pausedAt === null);
  for (const target of mine) {
    db.run(db.q.updateTable('github_targets').set({ paused_at: at, paused_reason: 'linker_lost_role' }).where('id', '=', target.id));
    recordEvent(db, at, { projectId, actor, action: 'github.paused', details: { target: target.id, linked_by: userId } });
  }
  return mine.map((t) => ({ ...t, pausedAt: at }));
}

/** Lifecycle: a deleted project's targets are unlinked, so their secrets may be linked again. Call in the delete's transaction. */
export function freeTargetsOf(db: Db, at: number, projectId: number, actor: string): number {
  const ids = targetsOf(db, projectId).map((t) => t.id);
  if (ids.length === 0) return 0;
  db.run(db.q.updateTable('github_targets').set({ removed_at: at }).where('id', 'in', ids));
  recordEvent(db, at, { projectId, actor, action: 'github.unlinked', details: { targets: ids, reason: 'project_deleted' } });
  return ids.length;
}

export function listTargets(ctx: ServiceContext, actor: Actor, name: string): Result<{ project: Project; targets: Target[] }> {
  const access = authorize(ctx.db, actor, name, 'view');
  if (!access.ok) return access;
  return ok({ project: access.value.project, targets: targetsOf(ctx.db, access.value.project.id) });
}

export function unlinkTarget(ctx: ServiceContext, actor: Actor, name: string, targetId: number): Result<Target> {
  const { db } = ctx;
  return db.transaction(() => {
    const access = authorize(db, actor, name, 'manage_keys');
    if (!access.ok) return access;
    const { project } = access.value;
    const target = targetsOf(db, project.id).find((t) => t.id === targetId);
    if (!target) return fail('not_found', `\`${name}\` has no GitHub target ${targetId}; see \`/jamjet github list ${name}\`.`);
    const at = ctx.now();
    db.run(db.q.updateTable('github_targets').set({ removed_at: at }).where('id', '=', targetId));
    recordEvent(db, at, { projectId: project.id, actor: actor.userId, action: 'github.unlinked', details: { target: targetId } });
    return ok(target);
  });
}
