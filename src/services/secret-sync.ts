/**
 * Step 2 of a rotation: write the new key to each linked GitHub target and
 * record each outcome. A target GitHub cannot take right now is tried again
 * after a short pause; after that it waits for the *Retry* button.
 */
import type { SecretStore } from '../github/types.ts';
import type { ServiceContext } from './context.ts';
import { toSecretTarget, type Target } from './github-targets.ts';
import { recordTargetResult } from './rotations.ts';

export interface SyncOptions {
  readonly attempts?: number;
  readonly pauseMs?: number;
}

export async function writeTarget(
  ctx: ServiceContext,
  store: SecretStore,
  rotationId: number,
  target: Target,
  plaintext: string,
  actor: string,
  options: SyncOptions = {},
): Promise<boolean> {
  const attempts = options.attempts ?? 2;
  for (let attempt = 1; ; attempt++) {
    const result = await store.write(toSecretTarget(target), plaintext);
    if (result.ok) {
      recordTargetResult(ctx, rotationId, target, { ok: true }, actor);
      return true;
    }
    if (!result.retryable || attempt >= attempts) {
      recordTargetResult(ctx, rotationId, target, { ok: false, message: result.message }, actor);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, options.pauseMs ?? 1000));
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
  for (const target of targets) {
    await writeTarget(ctx, store, rotationId, target, plaintext, actor, options);
  }
}
