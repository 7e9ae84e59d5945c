/**
 * How a rotation ends, from its reminder's buttons: *Revoke old key*
 * (confirmed when the key was used in the last 15 minutes), *Snooze 1 day*,
 * *Keep both*. Each press is checked against the presser's role at the press.
 */
import { fail, ok, type Result } from '../core/errors.ts';
import type { Db } from '../db/database.ts';
import { insertionOrder } from '../db/dialect.ts';
import { can } from '../core/roles.ts';
import { authorizeById, findProjectById, membershipRole } from './access.ts';
import { recordEvent } from './audit.ts';
import { SYSTEM_ACTOR, type Actor, type ServiceContext } from './context.ts';
import { keyById, revokeKeyRow } from './keys.ts';
import { findRotation, finishRotation, REMINDER_JOB, writeRefusal, type Rotation } from './rotations.ts';

export const SNOOZE_MS = 24 * 60 * 60_000;
/** Revoking a key used this recently asks for confirmation first. */
export const RECENT_USE_MS = 15 * 60_000;

/** Who may act on a rotation's buttons: Admins and Owners of its project, checked at the press. */
async function authorizeRotation(ctx: ServiceContext, actor: Actor, rotationId: number) {
  const rotation = await findRotation(ctx.db, rotationId);
  if (!rotation) return fail('not_found', 'That rotation no longer exists.');
  const access = await authorizeById(ctx.db, actor, rotation.projectId, 'manage_keys');
  if (!access.ok) return access;
  return ok({ rotation, project: access.value.project });
}

/** The same, for a rotation that must still be in its overlap. */
async function authorizeOpenRotation(ctx: ServiceContext, actor: Actor, rotationId: number): Promise<Result<Rotation>> {
  const access = await authorizeRotation(ctx, actor, rotationId);
  if (!access.ok) return access;
  const { rotation } = access.value;
  return rotation.state === 'overlap' ? ok(rotation) : fail('already_done', finishedSentence(rotation));
}

/**
 * *Retry* on a failed GitHub target: Admins and Owners, and only while the
 * rotation's new key is still the one GitHub should hold (`writeRefusal`).
 */
export async function checkCanRetry(ctx: ServiceContext, actor: Actor, rotationId: number): Promise<Result<{ rotation: Rotation }>> {
  const access = await authorizeRotation(ctx, actor, rotationId);
  if (!access.ok) return access;
  const refusal = await writeRefusal(ctx.db, rotationId);
  return refusal ? fail('already_done', refusal) : access;
}

export type RevokeOutcome = { done: true; rotation: Rotation } | { done: false; lastUsedAt: number };

/** *Revoke old key*: asks for confirmation when the old key was used in the last 15 minutes. */
export async function revokeOldKey(ctx: ServiceContext, actor: Actor, rotationId: number, confirmed: boolean): Promise<Result<RevokeOutcome>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const open = await authorizeOpenRotation(ctx, actor, rotationId);
    if (!open.ok) return open;
    const rotation = open.value;
    const old = (await keyById(db, rotation.oldKeyId))!;
    const at = ctx.now();
    if (!confirmed && old.lastUsedAt !== null && at - old.lastUsedAt < RECENT_USE_MS) {
      return ok({ done: false, lastUsedAt: old.lastUsedAt });
    }
    await revokeKeyRow(db, at, old, actor.userId, 'rotation', ctx.jobs);
    await finishRotation(ctx, rotation, 'revoked', actor.userId);
    return ok({ done: true, rotation: (await findRotation(db, rotationId))! });
  });
}

/** *Keep both*: the rotation ends with both keys valid. */
export async function keepBothKeys(ctx: ServiceContext, actor: Actor, rotationId: number): Promise<Result<Rotation>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const open = await authorizeOpenRotation(ctx, actor, rotationId);
    if (!open.ok) return open;
    const rotation = open.value;
    await finishRotation(ctx, rotation, 'kept', actor.userId);
    return ok((await findRotation(db, rotationId))!);
  });
}

/** *Snooze 1 day*: the reminder comes back tomorrow. */
export async function snoozeReminder(ctx: ServiceContext, actor: Actor, rotationId: number): Promise<Result<Rotation>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const open = await authorizeOpenRotation(ctx, actor, rotationId);
    if (!open.ok) return open;
    const rotation = open.value;
    const at = ctx.now();
    const remindAt = at + SNOOZE_MS;
    await db.run(db.q.updateTable('rotations').set({ remind_at: remindAt }).where('id', '=', rotationId));
    await ctx.jobs.enqueue(REMINDER_JOB, { rotation: rotationId, remindAt }, remindAt);
    await recordEvent(db, at, { projectId: rotation.projectId, actor: actor.userId, action: 'key.rotation_snoozed', details: { rotation: rotationId, until: remindAt } });
    return ok((await findRotation(db, rotationId))!);
  });
}

function finishedSentence(rotation: Rotation): string {
  const how = rotation.state === 'revoked' ? 'the old key was revoked' : 'both keys were kept';
  return `This rotation is already finished: ${how}${rotation.finishedBy ? ` by <@${rotation.finishedBy}>` : ''}.`;
}

/**
 * The reminder is due: true when it should be sent now. A reminder that was
 * snoozed or finished since it was scheduled is skipped.
 */
export async function reminderDue(db: Db, rotationId: number, remindAt: number): Promise<Rotation | null> {
  const rotation = await findRotation(db, rotationId);
  if (!rotation || rotation.state !== 'overlap' || rotation.remindAt !== remindAt) return null;
  // A deleted project's keys no longer work: there is nothing left to finish.
  if (!await findProjectById(db, rotation.projectId)) return null;
  if (rotation.remindedAt !== null && rotation.remindedAt >= remindAt) return null;
  return rotation;
}

/**
 * Who gets the reminder: the person who rotated, while they may still
 * finish the rotation; otherwise (they left, or were demoted) the project's
 * longest-standing Owner, so a rotation never waits on someone who cannot act.
 */
export async function reminderRecipient(db: Db, rotation: Rotation): Promise<string> {
  const role = await membershipRole(db, rotation.projectId, rotation.requestedBy);
  if (can(role, 'manage_keys')) return rotation.requestedBy;
  const owner = await db.get(
    db.q
      .selectFrom('memberships')
      .select('user_id')
      .where('project_id', '=', rotation.projectId)
      .where('role', '=', 'owner')
      .orderBy('created_at')
      .orderBy(insertionOrder(db, 'memberships'))
      .limit(1),
  );
  return owner?.user_id ?? rotation.requestedBy;
}

/**
 * Everyone the reminder may go to, in order: the recipient above, then the
 * project's other Owners by how long they have been Owners. When Slack
 * refuses the first for good (deactivated, gone), the next one is asked.
 */
export async function reminderRecipients(db: Db, rotation: Rotation): Promise<string[]> {
  const owners = (await db
    .all(
      db.q
        .selectFrom('memberships')
        .select('user_id')
        .where('project_id', '=', rotation.projectId)
        .where('role', '=', 'owner')
        // Ties (Owners added in the same millisecond) in the order they were added, on either engine.
        .orderBy('created_at')
        .orderBy(insertionOrder(db, 'memberships')),
    ))
    .map((o) => o.user_id);
  return [...new Set([await reminderRecipient(db, rotation), ...owners])];
}

export async function recordReminderSent(ctx: ServiceContext, rotationId: number, at: { channel: string; ts: string }): Promise<void> {
  const { db } = ctx;
  await db.transaction(async () => {
    const rotation = (await findRotation(db, rotationId))!;
    const now = ctx.now();
    await db.run(
      db.q
        .updateTable('rotations')
        .set({ reminded_at: Math.max(now, rotation.remindAt ?? now), reminder_channel: at.channel, reminder_ts: at.ts })
        .where('id', '=', rotationId),
    );
    await recordEvent(db, now, { projectId: rotation.projectId, actor: SYSTEM_ACTOR, action: 'key.rotation_reminded', details: { rotation: rotationId } });
  });
}

