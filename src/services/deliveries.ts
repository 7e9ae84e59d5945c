/**
 * One-time delivery of a new key. The key is sealed with AES-256-GCM under a
 * fresh random key that is never stored: it travels only in the Slack
 * button's value. The database holds the ciphertext, which alone is useless,
 * and wipes it once the key is revealed or expired and no GitHub retry needs it.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { fail, ok, type Result } from '../core/errors.ts';
import type { Db } from '../db/database.ts';
import { recordEvent } from './audit.ts';
import { authorizeById } from './access.ts';
import { SYSTEM_ACTOR, type Actor, type ServiceContext } from './context.ts';
import { keyById, type ApiKey } from './keys.ts';

export const REVEAL_WINDOW_MS = 15 * 60_000;
/** A reveal that started but did not finish (Slack failed to open the modal) can be retried after this. */
const REVEAL_LEASE_MS = 30_000;
export const REVEAL_EXPIRY_JOB = 'reveal.expire';
export const DELIVERY_WIPE_JOB = 'delivery.wipe';
/** How long a failed GitHub target can be retried with the same new key. */
export const RETRY_WINDOW_MS = 24 * 60 * 60_000;

/** What the button carries: which delivery, and the key that opens it. */
export interface DeliveryTicket {
  readonly deliveryId: string;
  readonly secret: string;
}

export interface Delivery {
  readonly id: string;
  readonly keyId: number;
  readonly userId: string;
  readonly createdAt: number;
  readonly revealUntil: number;
  readonly revealedAt: number | null;
  readonly expiredAt: number | null;
  readonly dm: { channel: string; ts: string } | null;
}

export function encodeTicket(t: DeliveryTicket): string {
  return `${t.deliveryId}.${t.secret}`;
}

export function decodeTicket(value: string): DeliveryTicket | null {
  const match = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/.exec(value);
  return match ? { deliveryId: match[1]!, secret: match[2]! } : null;
}

function seal(plaintext: string): { ciphertext: Buffer; secret: string } {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]), secret: key.toString('base64url') };
}

function unseal(ciphertext: Buffer, secret: string): string | null {
  try {
    const key = Buffer.from(secret, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.subarray(0, 12));
    decipher.setAuthTag(ciphertext.subarray(12, 28));
    return Buffer.concat([decipher.update(ciphertext.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

const toDelivery = (r: {
  id: string;
  key_id: number;
  user_id: string;
  created_at: number;
  reveal_until: number;
  revealed_at: number | null;
  expired_at: number | null;
  dm_channel: string | null;
  dm_ts: string | null;
}): Delivery => ({
  id: r.id,
  keyId: r.key_id,
  userId: r.user_id,
  createdAt: r.created_at,
  revealUntil: r.reveal_until,
  revealedAt: r.revealed_at,
  expiredAt: r.expired_at,
  dm: r.dm_channel && r.dm_ts ? { channel: r.dm_channel, ts: r.dm_ts } : null,
});

const COLUMNS = ['id', 'key_id', 'user_id', 'created_at', 'reveal_until', 'revealed_at', 'expired_at', 'dm_channel', 'dm_ts'] as const;

export async function findDelivery(db: Db, id: string): Promise<Delivery | null> {
  const row = await db.get(db.q.selectFrom('key_deliveries').select(COLUMNS).where('id', '=', id));
  return row ? toDelivery(row) : null;
}

/** Seals a new key for `userId` and schedules its expiry; call inside the use case's transaction. */
export async function createDelivery(ctx: ServiceContext, keyId: number, userId: string, plaintext: string): Promise<DeliveryTicket> {
  const { db } = ctx;
  const at = ctx.now();
  const id = randomUUID();
  const { ciphertext, secret } = seal(plaintext);
  await db.run(
    db.q
      .insertInto('key_deliveries')
      .values({ id, key_id: keyId, user_id: userId, ciphertext, created_at: at, reveal_until: at + REVEAL_WINDOW_MS }),
  );
  await ctx.jobs.enqueue(REVEAL_EXPIRY_JOB, { delivery: id }, at + REVEAL_WINDOW_MS);
  await ctx.jobs.enqueue(DELIVERY_WIPE_JOB, { delivery: id }, at + RETRY_WINDOW_MS);
  return { deliveryId: id, secret };
}

export async function recordDm(db: Db, deliveryId: string, dm: { channel: string; ts: string }): Promise<void> {
  await db.run(db.q.updateTable('key_deliveries').set({ dm_channel: dm.channel, dm_ts: dm.ts }).where('id', '=', deliveryId));
}

/**
 * Wipes the ciphertext once nobody can reveal it and no GitHub retry needs
 * it. A failed target keeps it whatever the rotation's state (after
 * `--revoke-now` or *Revoke old key*, CI needs the new key most), until the
 * wipe job a day later, the end of the retry window.
 */
export async function wipeIfDone(db: Db, deliveryId: string): Promise<void> {
  const retryable = await db.get(
    db.q
      .selectFrom('rotations')
      .innerJoin('rotation_targets', 'rotation_targets.rotation_id', 'rotations.id')
      .innerJoin('github_targets', 'github_targets.id', 'rotation_targets.target_id')
      .select('rotations.id')
      .where('rotations.delivery_id', '=', deliveryId)
      .where('rotation_targets.status', '!=', 'written')
      .where('github_targets.removed_at', 'is', null)
      // A paused target is not retried: no reason to keep the key for it.
      .where('github_targets.paused_at', 'is', null)
      .limit(1),
  );
  if (retryable) return;
  await db.run(
    db.q
      .updateTable('key_deliveries')
      .set({ ciphertext: null })
      .where('id', '=', deliveryId)
      .where((eb) => eb.or([eb('revealed_at', 'is not', null), eb('expired_at', 'is not', null)])),
  );
}

/**
 * First half of a reveal: checks who pressed and when, and opens the key.
 * Holds a short lease so a double press cannot show it twice.
 */
export async function beginReveal(
  ctx: ServiceContext,
  ticket: DeliveryTicket,
  actor: Actor,
): Promise<Result<{ delivery: Delivery; key: ApiKey; plaintext: string }>> {
  const { db } = ctx;
  const at = ctx.now();
  const claimed = await db.transaction(async () => {
    const row = await db.get(db.q.selectFrom('key_deliveries').selectAll().where('id', '=', ticket.deliveryId));
    if (!row) return fail('not_found', 'This key delivery no longer exists.');
    if (row.user_id !== actor.userId) return fail('forbidden', `Only <@${row.user_id}> can reveal this key.`);
    // Someone removed or demoted since the key was made may no longer have it.
    const key = (await keyById(db, row.key_id))!;
    const access = await authorizeById(db, actor, key.projectId, 'manage_keys');
    if (!access.ok) return access;
    if (key.revokedAt !== null) return fail('expired', `Key ${key.publicId} has been revoked since; there is nothing to reveal.`);
    if (row.revealed_at !== null) return fail('already_done', 'This key was already revealed; it is shown only once.');
    if (row.expired_at !== null || at > row.reveal_until || !row.ciphertext) {
      return fail('expired', 'This key was not revealed within 15 minutes and has expired; rotate again for a new one.');
    }
    if (row.revealing_at !== null && at - row.revealing_at < REVEAL_LEASE_MS) {
      return fail('already_done', 'This key is being revealed right now.');
    }
    await db.run(db.q.updateTable('key_deliveries').set({ revealing_at: at }).where('id', '=', row.id));
    return ok(row);
  });
  if (!claimed.ok) return claimed;
  const plaintext = unseal(claimed.value.ciphertext!, ticket.secret);
  if (plaintext === null) {
    await abortReveal(ctx, ticket.deliveryId);
    return fail('forbidden', 'This button does not match its key.');
  }
  return ok({ delivery: toDelivery(claimed.value), key: (await keyById(db, claimed.value.key_id))!, plaintext });
}

/** Second half: the modal is open, so the key has been shown and can never be shown again. */
export async function finishReveal(ctx: ServiceContext, deliveryId: string): Promise<Delivery> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    await db.run(db.q.updateTable('key_deliveries').set({ revealed_at: at, revealing_at: null }).where('id', '=', deliveryId));
    await wipeIfDone(db, deliveryId);
    const delivery = (await findDelivery(db, deliveryId))!;
    const key = (await keyById(db, delivery.keyId))!;
    await recordEvent(db, at, {
      projectId: key.projectId,
      actor: delivery.userId,
      action: 'key.revealed',
      details: { key: key.publicId },
    });
    return delivery;
  });
}

/** Slack could not show the key: let the person press again. */
export async function abortReveal(ctx: ServiceContext, deliveryId: string): Promise<void> {
  await ctx.db.run(ctx.db.q.updateTable('key_deliveries').set({ revealing_at: null }).where('id', '=', deliveryId));
}

/** The reveal window closed; returns the delivery when this call expired it. */
export async function expireDelivery(ctx: ServiceContext, deliveryId: string): Promise<Delivery | null> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const { changes } = await db.run(
      db.q
        .updateTable('key_deliveries')
        .set({ expired_at: at })
        .where('id', '=', deliveryId)
        .where('revealed_at', 'is', null)
        .where('expired_at', 'is', null),
    );
    if (changes === 0) return null;
    await wipeIfDone(db, deliveryId);
    const delivery = (await findDelivery(db, deliveryId))!;
    const key = (await keyById(db, delivery.keyId))!;
    await recordEvent(db, at, { projectId: key.projectId, actor: SYSTEM_ACTOR, action: 'key.reveal_expired', details: { key: key.publicId } });
    return delivery;
  });
}

/** The end of the retry window: nothing may open this key any more. */
export async function wipeDelivery(db: Db, deliveryId: string): Promise<void> {
  await db.run(db.q.updateTable('key_deliveries').set({ ciphertext: null }).where('id', '=', deliveryId));
}

/** Opens the key again for a GitHub retry, without showing it to anyone. */
export async function openForRetry(db: Db, ticket: DeliveryTicket): Promise<string | null> {
  const row = await db.get(db.q.selectFrom('key_deliveries').select('ciphertext').where('id', '=', ticket.deliveryId));
  return row?.ciphertext ? unseal(row.ciphertext, ticket.secret) : null;
}
