/**
 * Zero-downtime rotation, kept as state: mint the new key (both valid: the
 * overlap), write it to every linked GitHub target, deliver it once, and
 * remind the requester to revoke the old key when the overlap ends.
 */
import type { Selectable } from 'kysely';
import { fail, ok, type Result } from '../core/errors.ts';
import { KEY_ID_PATTERN } from '../core/keys.ts';
import { LIMITS } from '../core/limits.ts';
import { storableText } from '../core/secrets.ts';
import type { Db } from '../db/database.ts';
import type { RotationsTable, RotationState, TargetStatus } from '../db/schema.ts';
import { authorize, toProject, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import type { Actor, ServiceContext } from './context.ts';
import { createDelivery, findDelivery, wipeIfDone, type Delivery, type DeliveryTicket } from './deliveries.ts';
import { activeKeys, issueKey, keyById, revokeKeyRow, tooManyKeys, type ApiKey, type IssuedKey } from './keys.ts';
import { targetsOf, toTarget, type Target } from './github-targets.ts';

export const REMINDER_JOB = 'rotation.reminder';

export interface Rotation {
  readonly id: number;
  readonly projectId: number;
  readonly oldKeyId: number;
  readonly newKeyId: number;
  readonly deliveryId: string;
  readonly requestedBy: string;
  readonly overlapSeconds: number;
  readonly state: RotationState;
  readonly createdAt: number;
  readonly remindAt: number | null;
  readonly remindedAt: number | null;
  readonly reminder: { channel: string; ts: string } | null;
  readonly finishedAt: number | null;
  readonly finishedBy: string | null;
}

export interface TargetOutcome {
  readonly target: Target;
  readonly status: TargetStatus;
  readonly message: string | null;
}

/** Everything a rotation message shows. */
export interface RotationDetails {
  readonly rotation: Rotation;
  readonly project: Project;
  readonly oldKey: ApiKey;
  readonly newKey: ApiKey;
  readonly delivery: Delivery;
  readonly targets: TargetOutcome[];
  /** The new key of a later rotation of the same project: what GitHub should hold now instead. */
  readonly replacedBy: ApiKey | null;
  /** The project's paused targets: linked, but not written until someone re-links them. */
  readonly paused: Target[];
}

function toRotation(r: Selectable<RotationsTable>): Rotation {
  return {
    id: r.id,
    projectId: r.project_id,
    oldKeyId: r.old_key_id,
    newKeyId: r.new_key_id,
    deliveryId: r.delivery_id,
    requestedBy: r.requested_by,
    overlapSeconds: r.overlap_seconds,
    state: r.state,
    createdAt: r.created_at,
    remindAt: r.remind_at,
    remindedAt: r.reminded_at,
    reminder: r.reminder_channel && r.reminder_ts ? { channel: r.reminder_channel, ts: r.reminder_ts } : null,
    finishedAt: r.finished_at,
    finishedBy: r.finished_by,
  };
}

export async function findRotation(db: Db, id: number): Promise<Rotation | null> {
  const row = await db.get(db.q.selectFrom('rotations').selectAll().where('id', '=', id));
  return row ? toRotation(row) : null;
}

export async function rotationDetails(db: Db, id: number): Promise<RotationDetails | null> {
  const rotation = await findRotation(db, id);
  if (!rotation) return null;
  const rows = await db.all(
    db.q
      .selectFrom('rotation_targets')
      .innerJoin('github_targets', 'github_targets.id', 'rotation_targets.target_id')
      .selectAll('github_targets')
      .select(['rotation_targets.status', 'rotation_targets.message'])
      .where('rotation_targets.rotation_id', '=', id)
      // An unlinked target is never written again, not even by a Retry.
      .where('github_targets.removed_at', 'is', null)
      // Nor is a paused one: its linker no longer backs it.
      .where('github_targets.paused_at', 'is', null)
      .orderBy('github_targets.id'),
  );
  const project = (await db.get(db.q.selectFrom('projects').selectAll().where('id', '=', rotation.projectId)))!;
  const later = await laterRotation(db, rotation);
  return {
    rotation,
    project: toProject(project),
    oldKey: (await keyById(db, rotation.oldKeyId))!,
    newKey: (await keyById(db, rotation.newKeyId))!,
    delivery: (await findDelivery(db, rotation.deliveryId))!,
    targets: rows.map(({ status, message, ...target }) => ({ target: toTarget(target), status, message })),
    replacedBy: later ? await keyById(db, later.newKeyId) : null,
    paused: (await targetsOf(db, rotation.projectId)).filter((t) => t.pausedAt !== null),
  };
}

/** The newest rotation of the same project started after `rotation`, if any. */
async function laterRotation(db: Db, rotation: Rotation): Promise<Rotation | null> {
  const row = await db.get(
    db.q
      .selectFrom('rotations')
      .selectAll()
      .where('project_id', '=', rotation.projectId)
      .where('id', '>', rotation.id)
      .orderBy('id', 'desc')
      .limit(1),
  );
  return row ? toRotation(row) : null;
}

/**
 * Why a rotation's new key may no longer be written to GitHub, checked when
 * the write happens (a Retry pressed days later, a write resumed at reveal),
 * not when the button was made: the new key was revoked since, a later
 * rotation put another key there, or the project was deleted. Null when the
 * write may go ahead.
 */
export async function writeRefusal(db: Db, rotationId: number): Promise<string | null> {
  const rotation = await findRotation(db, rotationId);
  if (!rotation) return 'That rotation no longer exists.';
  const project = (await db.get(db.q.selectFrom('projects').select(['name', 'deleted_at']).where('id', '=', rotation.projectId)))!;
  if (project.deleted_at !== null) return `\`${project.name}\` was deleted; nothing is written to GitHub for it any more.`;
  const newKey = (await keyById(db, rotation.newKeyId))!;
  if (newKey.revokedAt !== null) {
    return `The new key ${newKey.publicId} of this rotation has been revoked since, so it is not written to GitHub.`;
  }
  const later = await laterRotation(db, rotation);
  if (later) {
    const replacement = (await keyById(db, later.newKeyId))!;
    return `A later rotation of \`${project.name}\` (new key ${replacement.publicId}) replaced this one, so its key is not written to GitHub.`;
  }
  return null;
}

export async function openRotation(db: Db, projectId: number): Promise<Rotation | null> {
  const row = await db.get(db.q.selectFrom('rotations').selectAll().where('project_id', '=', projectId).where('state', '=', 'overlap'));
  return row ? toRotation(row) : null;
}

export interface StartedRotation extends IssuedKey {
  readonly rotation: Rotation;
  readonly ticket: DeliveryTicket;
  readonly targets: Target[];
}

/** Steps 1 and 4 in one transaction: the new key, the rotation, its delivery and its reminder. */
export async function startRotation(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  oldKeyId: string | null,
  overlapSeconds: number,
  revokeNow: boolean,
): Promise<Result<StartedRotation>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'manage_keys');
    if (!access.ok) return access;
    const { project } = access.value;
    const open = await openRotation(db, project.id);
    if (open && !revokeNow) {
      const old = (await keyById(db, open.oldKeyId))!;
      return fail(
        'conflict',
        `\`${name}\` is already rotating ${old.publicId} (started by <@${open.requestedBy}>); finish it from its reminder before rotating again, or use --revoke-now after a leak.`,
      );
    }
    const keys = await activeKeys(db, project.id);
    let old: ApiKey | undefined;
    if (oldKeyId !== null) {
      old = KEY_ID_PATTERN.test(oldKeyId) ? keys.find((k) => k.publicId === oldKeyId) : undefined;
      if (!old) return fail('not_found', `\`${name}\` has no active key \`${oldKeyId}\`; see \`/jamjet keys list ${name}\`.`);
    } else if (keys.length === 1) {
      old = keys[0]!;
    } else if (keys.length === 0) {
      return fail('not_found', `\`${name}\` has no active key to rotate; create one with \`/jamjet keys create ${name}\`.`);
    } else {
      return fail('bad_input', `\`${name}\` has ${keys.length} active keys; name the one to rotate: ${keys.map((k) => k.publicId).join(', ')}.`);
    }
    // A rotation adds a key until the old one is revoked: it counts against the bound like `keys create`.
    if (!revokeNow && keys.length >= LIMITS.activeKeysPerProject) return fail('conflict', tooManyKeys(name));
    const at = ctx.now();
    // The leak response never waits: it closes the rotation in progress, keeping its keys.
    if (open) await finishRotation(ctx, open, 'kept', actor.userId);
    const issued = await issueKey(db, at, project, old.name, actor.userId);
    const ticket = await createDelivery(ctx, issued.key.id, actor.userId, issued.plaintext);
    const remindAt = revokeNow ? null : at + overlapSeconds * 1000;
    const row = (await db.get(
      db.q
        .insertInto('rotations')
        .values({
          project_id: project.id,
          old_key_id: old.id,
          new_key_id: issued.key.id,
          delivery_id: ticket.deliveryId,
          requested_by: actor.userId,
          overlap_seconds: overlapSeconds,
          state: revokeNow ? 'revoked' : 'overlap',
          created_at: at,
          remind_at: remindAt,
          finished_at: revokeNow ? at : null,
          finished_by: revokeNow ? actor.userId : null,
        })
        .returning('id'),
    ))!;
    // A paused target is not written: its linker no longer backs it (it shows in the report).
    const targets = (await targetsOf(db, project.id)).filter((t) => t.pausedAt === null);
    for (const target of targets) {
      await db.run(
        db.q.insertInto('rotation_targets').values({ rotation_id: row.id, target_id: target.id, status: 'pending', updated_at: at }),
      );
    }
    await recordEvent(db, at, {
      projectId: project.id,
      actor: actor.userId,
      action: 'key.rotation_started',
      details: { rotation: row.id, old: old.publicId, new: issued.key.publicId, overlap_seconds: overlapSeconds, revoke_now: revokeNow },
    });
    if (revokeNow) await revokeKeyRow(db, at, old, actor.userId, 'rotation --revoke-now', ctx.jobs);
    else await ctx.jobs.enqueue(REMINDER_JOB, { rotation: row.id, remindAt }, remindAt!);
    return ok({ ...issued, rotation: (await findRotation(db, row.id))!, ticket, targets });
  });
}

/** Step 2's bookkeeping: the outcome of writing one target. */
export async function recordTargetResult(
  ctx: ServiceContext,
  rotationId: number,
  target: Target,
  result: { ok: true } | { ok: false; message: string },
  actor: string,
): Promise<void> {
  const { db } = ctx;
  await db.transaction(async () => {
    const at = ctx.now();
    const rotation = (await findRotation(db, rotationId))!;
    await db.run(
      db.q
        .updateTable('rotation_targets')
        .set((eb) => ({
          status: result.ok ? 'written' : 'failed',
          message: result.ok ? null : storableText(result.message),
          attempts: eb('attempts', '+', 1),
          updated_at: at,
        }))
        .where('rotation_id', '=', rotationId)
        .where('target_id', '=', target.id),
    );
    await recordEvent(db, at, {
      projectId: rotation.projectId,
      actor,
      action: result.ok ? 'github.secret_written' : 'github.secret_failed',
      details: { rotation: rotationId, target: target.id, secret: target.secretName, ...(result.ok ? {} : { reason: result.message }) },
    });
    await wipeIfDone(db, rotation.deliveryId);
  });
}

/** Ends a rotation: the old key revoked, or both kept. Call inside the use case's transaction. */
export async function finishRotation(ctx: ServiceContext, rotation: Rotation, state: 'revoked' | 'kept', by: string): Promise<void> {
  const { db } = ctx;
  const at = ctx.now();
  const { changes } = await db.run(
    db.q.updateTable('rotations').set({ state, finished_at: at, finished_by: by }).where('id', '=', rotation.id).where('state', '=', 'overlap'),
  );
  // Already finished (revoking its old key finishes it too): recorded once.
  if (changes === 0) return;
  await recordEvent(db, at, {
    projectId: rotation.projectId,
    actor: by,
    action: state === 'revoked' ? 'key.rotation_completed' : 'key.rotation_kept_both',
    details: { rotation: rotation.id },
  });
}

/** The rotation a key delivery belongs to, if any. */
export async function rotationForDelivery(db: Db, deliveryId: string): Promise<Rotation | null> {
  const row = await db.get(db.q.selectFrom('rotations').selectAll().where('delivery_id', '=', deliveryId));
  return row ? toRotation(row) : null;
}

/** Rotations still in their overlap, for App Home. */
export async function openRotationsFor(db: Db, projectIds: number[]): Promise<Rotation[]> {
  if (projectIds.length === 0) return [];
  return (await db
    .all(db.q.selectFrom('rotations').selectAll().where('state', '=', 'overlap').where('project_id', 'in', projectIds)))
    .map(toRotation);
}
