/**
 * Step 2 of a rotation: write the new key to each linked GitHub target and
 * record each outcome. A target GitHub cannot take right now is tried again
 * after a short pause; after that it waits for the *Retry* button.
 */
import type { SecretStore } from '../github/types.ts';
import type { ServiceContext } from './context.ts';
import { recordWritten, toSecretTarget, type Target } from './github-targets.ts';
import { recordTargetResult, rotationDetails, writeRefusal } from './rotations.ts';

/**
 * Writes under way in this process. A target still `pending` that no write
 * here is working on was left behind by a process that stopped mid-write.
 * (During a deploy overlap the other process may still be on it; writing the
 * same value twice is harmless.)
 */
const writing = new Set<string>();
const slot = (rotationId: number, targetId: number) => `${rotationId}:${targetId}`;

/** Targets whose write started but never finished, for lack of a process to finish it. */
export async function interruptedTargets(ctx: ServiceContext, rotationId: number): Promise<Target[]> {
  const details = await rotationDetails(ctx.db, rotationId);
  if (!details || await writeRefusal(ctx.db, rotationId) !== null) return [];
  return details.targets
    .filter((t) => t.status === 'pending' && !writing.has(slot(rotationId, t.target.id)))
    .map((t) => t.target);
}

export interface SyncOptions {
  readonly attempts?: number;
  readonly pauseMs?: number;
}

/**
 * Writes the new key to one target, first checking that the rotation may
 * still write (`writeRefusal`): true when GitHub holds it, false when the
 * write failed or was refused (then nothing is sent to GitHub or recorded).
 */
export async function writeTarget(
  ctx: ServiceContext,
  store: SecretStore,
  rotationId: number,
  target: Target,
  plaintext: string,
  actor: string,
  options: SyncOptions = {},
): Promise<boolean> {
  const key = slot(rotationId, target.id);
  writing.add(key);
  try {
    const attempts = options.attempts ?? 2;
    for (let attempt = 1; ; attempt++) {
      // Checked before every attempt: the key may have been revoked or replaced during the pause.
      if (await writeRefusal(ctx.db, rotationId) !== null) return false;
      // Checked when written, not when the rotation started: a target paused or unlinked since is left alone.
      if (!await isWritable(ctx, target.id)) {
        await recordTargetResult(ctx, rotationId, target, { ok: false, message: 'Not written: the target was paused or unlinked meanwhile.' }, actor);
        return false;
      }
      const result = await store.write(toSecretTarget(target), plaintext);
      if (result.ok) {
        // What GitHub holds now is the bot's: a later link of this secret needs no --replace-existing.
        await recordWritten(ctx.db, ctx.now(), target, result.updatedAt);
        await recordTargetResult(ctx, rotationId, target, { ok: true }, actor);
        return true;
      }
      if (!result.retryable || attempt >= attempts) {
        await recordTargetResult(ctx, rotationId, target, { ok: false, message: result.message }, actor);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 1000));
    }
  } finally {
    writing.delete(key);
  }
}

/** Writes every target one after another (GitHub rate-limits secret writes per repository). */
export async function writeTargets(
  ctx: ServiceContext,
  store: SecretStore,
  rotationId: number,
  targets: readonly Target[],
  plaintext: string,
  actor: string,
  options: SyncOptions = {},
): Promise<void> {
  // Claim them all now: the ones further down the list are under way too.
  const keys = targets.map((t) => slot(rotationId, t.id));
  keys.forEach((k) => writing.add(k));
  try {
    for (const target of targets) {
      await writeTarget(ctx, store, rotationId, target, plaintext, actor, options);
    }
  } finally {
    keys.forEach((k) => writing.delete(k));
  }
}

async function isWritable(ctx: ServiceContext, targetId: number): Promise<boolean> {
  const row = await ctx.db.get(ctx.db.q.selectFrom('github_targets').select(['removed_at', 'paused_at']).where('id', '=', targetId));
  return row !== undefined && row.removed_at === null && row.paused_at === null;
}
