/**
 * GitHub Actions secrets a project's key is written to on rotation. The bot
 * writes only the names it was linked to; unlinking forgets the target and
 * never deletes the secret on GitHub.
 */
import { fail, ok, type Result } from '../core/errors.ts';
import type { Db } from '../db/database.ts';
import type { Selectable } from 'kysely';
import { describeTarget } from '../github/names.ts';
import type { SecretTarget } from '../github/types.ts';
import type { GithubTargetsTable, TargetKind } from '../db/schema.ts';
import { authorize, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import type { Actor, ServiceContext } from './context.ts';

export interface TargetSpec {
  readonly kind: TargetKind;
  /** The repository owner, or the organisation for `org`. */
  readonly owner: string;
  readonly repo: string | null;
  readonly environment: string | null;
  readonly visibility: 'all' | 'private' | null;
  readonly secretName: string;
}

export interface Target extends TargetSpec {
  readonly id: number;
  readonly projectId: number;
  readonly createdBy: string;
  readonly createdAt: number;
}

const MAX_TARGETS = 25;
/** The bot only ever writes secrets named like this. */
export const SECRET_PREFIX = 'JAMJET_';

/** GitHub treats owner, repository and secret names without regard to case. */
function sameSecret(a: TargetSpec, b: TargetSpec): boolean {
  const same = (x: string | null, y: string | null) => (x ?? '').toLowerCase() === (y ?? '').toLowerCase();
  return a.kind === b.kind && same(a.owner, b.owner) && same(a.repo, b.repo) && (a.environment ?? '') === (b.environment ?? '') && same(a.secretName, b.secretName);
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

/** Why `spec` cannot be linked to `project`, or null when it can. */
function linkProblem(db: Db, project: Project, spec: TargetSpec) {
  if (!spec.secretName.toUpperCase().startsWith(SECRET_PREFIX)) {
    return fail('bad_input', `The secret name must start with ${SECRET_PREFIX}, so the bot never overwrites a secret that is not a JamJet key.`);
  }
  // One secret, one project: otherwise a project could put its own key into
  // another project's CI and receive that project's approval requests.
  const taken = db
    .all(db.q.selectFrom('github_targets').selectAll().where('removed_at', 'is', null).where('kind', '=', spec.kind))
    .map(toTarget)
    .find((t) => sameSecret(t, spec));
  if (taken) {
    return fail(
      'conflict',
      taken.projectId === project.id
        ? `\`${project.name}\` is already linked to ${describeSpec(spec)} as target ${taken.id}.`
        : `${describeSpec(spec)} already holds the key of another project; each secret belongs to one project.`,
    );
  }
  if (targetsOf(db, project.id).length >= MAX_TARGETS) {
    return fail('conflict', `\`${project.name}\` already has ${MAX_TARGETS} GitHub targets.`);
  }
  return null;
}

/** Checks that the actor may link `spec` to the project, before GitHub is asked. */
export function checkCanLink(ctx: ServiceContext, actor: Actor, name: string, spec: (project: Project) => TargetSpec): Result<TargetSpec> {
  const access = authorize(ctx.db, actor, name, 'manage_keys');
  if (!access.ok) return access;
  const target = spec(access.value.project);
  return linkProblem(ctx.db, access.value.project, target) ?? ok(target);
}

export function linkTarget(ctx: ServiceContext, actor: Actor, name: string, spec: TargetSpec): Result<Target> {
  const { db } = ctx;
  return db.transaction(() => {
    const access = authorize(db, actor, name, 'manage_keys');
    if (!access.ok) return access;
    const { project } = access.value;
    const problem = linkProblem(db, project, spec);
    if (problem) return problem;
    const at = ctx.now();
    const row = db.get(
      db.q
        .insertInto('github_targets')
        .values({
          project_id: project.id,
          kind: spec.kind,
          owner: spec.owner,
          repo: spec.repo,
          environment: spec.environment,
          visibility: spec.visibility,
          secret_name: spec.secretName,
          created_by: actor.userId,
          created_at: at,
        })
        .returning('id'),
    )!;
    recordEvent(db, at, {
      projectId: project.id,
      actor: actor.userId,
      action: 'github.linked',
      details: { target: row.id, kind: spec.kind, owner: spec.owner, repo: spec.repo, environment: spec.environment, secret: spec.secretName },
    });
    return ok({ ...spec, id: row.id, projectId: project.id, createdBy: actor.userId, createdAt: at });
  });
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
