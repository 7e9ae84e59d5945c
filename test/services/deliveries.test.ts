import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLiveProject, type Project } from '../../src/services/access.ts';
import {
  abortReveal,
  beginReveal,
  decodeTicket,
  encodeTicket,
  expireDelivery,
  finishReveal,
  REVEAL_EXPIRY_JOB,
  type DeliveryTicket,
} from '../../src/services/deliveries.ts';
import { issueDeliveredKey } from '../../src/services/keys.ts';
import { createProjects } from '../../src/services/projects.ts';
import { startRotation } from '../../src/services/rotations.ts';
import { addMember, changeRole, removeMember } from '../../src/services/members.ts';
import { testContext, user } from '../helpers/db.ts';
import { findPlaintext, tableCount } from './plaintext-scan.ts';

const owner = user('UOWNER');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const WINDOW = 15 * 60_000;

let ctx: Awaited<ReturnType<typeof testContext>>;
let payments: Project;

beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, owner, 'payments', null);
  payments = (await findLiveProject(ctx.db, 'payments'))!;
});
afterEach(async () => {
  await ctx.db.close();
});

type DeliveryRow = { ciphertext: Buffer | null; revealing_at: number | null; revealed_at: number | null; expired_at: number | null };
const row = async (ticket: DeliveryTicket) =>
  (await ctx.db.raw('SELECT ciphertext, revealing_at, revealed_at, expired_at FROM key_deliveries WHERE id = ?', [ticket.deliveryId]))[0] as DeliveryRow;
const storedHash = async (keyId: number) => ((await ctx.db.raw('SELECT hash FROM api_keys WHERE id = ?', [keyId]))[0] as { hash: string }).hash;

/** A new key sealed for the owner, as `keys create` does it. */
const deliver = async (to = owner.userId) => await ctx.db.transaction(async () => await issueDeliveredKey(ctx, payments, 'ci', to));

/** The plaintext, found through a reveal, then the delivery put back as if nobody had pressed. */
async function peek(ticket: DeliveryTicket): Promise<string> {
  const begun = await beginReveal(ctx, ticket, owner);
  if (!begun.ok) throw new Error(begun.error.message);
  await abortReveal(ctx, ticket.deliveryId);
  return begun.value.plaintext;
}

const otherSecret = () => randomBytes(32).toString('base64url');

describe('one-time reveal', () => {
  it('shows the right user exactly the key whose hash is stored, once', async () => {
    const { key, ticket } = await deliver();
    const begun = await beginReveal(ctx, ticket, owner);
    expect(begun.ok).toBe(true);
    if (!begun.ok) return;
    expect(begun.value.plaintext).toMatch(/^jj_[0-9a-f]{32}$/);
    expect(sha256(begun.value.plaintext)).toBe(await storedHash(key.id));
    expect(begun.value.key.id).toBe(key.id);

    ctx.advance(2000);
    const done = await finishReveal(ctx, ticket.deliveryId);
    expect(done.revealedAt).toBe(ctx.now());
    expect(await row(ticket)).toMatchObject({ ciphertext: null, revealing_at: null, revealed_at: ctx.now() });

    const again = await beginReveal(ctx, ticket, owner);
    expect(again).toMatchObject({ ok: false, error: { code: 'already_done' } });
  });

  it('refuses anyone else and changes nothing', async () => {
    const { ticket } = await deliver();
    const before = await row(ticket);
    const result = await beginReveal(ctx, ticket, user('UINTRUDER'));
    expect(result).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(!result.ok && result.error.message).toContain('<@UOWNER>');
    expect(await row(ticket)).toEqual(before);
    expect((await beginReveal(ctx, ticket, owner)).ok).toBe(true);
  });

  it('expires after 15 minutes', async () => {
    const { ticket } = await deliver();
    ctx.advance(WINDOW);
    // The last millisecond of the window still counts.
    expect((await beginReveal(ctx, ticket, owner)).ok).toBe(true);
    await abortReveal(ctx, ticket.deliveryId);
    ctx.advance(1);
    expect(await beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'expired' } });
  });

  it('refuses a ticket with the wrong secret, and the real button still works after', async () => {
    const { key, ticket } = await deliver();
    const forged = { deliveryId: ticket.deliveryId, secret: otherSecret() };
    expect(await beginReveal(ctx, forged, owner)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await row(ticket)).toMatchObject({ revealing_at: null, revealed_at: null });
    expect((await row(ticket)).ciphertext).not.toBeNull();
    const real = await beginReveal(ctx, ticket, owner);
    expect(real.ok && sha256(real.value.plaintext)).toBe(await storedHash(key.id));
  });

  it('refuses someone removed or demoted since the key was made', async () => {
    await addMember(ctx, owner, 'payments', 'UBOB', 'admin');
    const { ticket } = await deliver('UBOB');
    expect((await changeRole(ctx, owner, 'payments', 'UBOB', 'member')).ok).toBe(true);
    expect(await beginReveal(ctx, ticket, user('UBOB'))).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect((await removeMember(ctx, owner, 'payments', 'UBOB')).ok).toBe(true);
    expect(await beginReveal(ctx, ticket, user('UBOB'))).toMatchObject({ ok: false, error: { code: 'no_access' } });
    expect((await row(ticket)).revealing_at).toBeNull();
  });

  it('says not_found for a delivery that does not exist', async () => {
    const ticket = { deliveryId: '00000000-0000-4000-8000-000000000000', secret: otherSecret() };
    expect(await beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('refuses a second press while the first one holds the lease', async () => {
    const { ticket } = await deliver();
    expect((await beginReveal(ctx, ticket, owner)).ok).toBe(true);
    ctx.advance(5000);
    expect(await beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'already_done' } });
  });

  it('lets the person press again after Slack failed to open the modal', async () => {
    const { ticket } = await deliver();
    const first = await beginReveal(ctx, ticket, owner);
    await abortReveal(ctx, ticket.deliveryId);
    const second = await beginReveal(ctx, ticket, owner);
    expect(second.ok).toBe(true);
    expect(first.ok && second.ok && second.value.plaintext === first.value.plaintext).toBe(true);
  });

  it('lets a press that never finished be retried once its 30 s lease is over', async () => {
    const { ticket } = await deliver();
    expect((await beginReveal(ctx, ticket, owner)).ok).toBe(true);
    ctx.advance(29_999);
    expect((await beginReveal(ctx, ticket, owner)).ok).toBe(false);
    ctx.advance(1);
    expect((await beginReveal(ctx, ticket, owner)).ok).toBe(true);
  });

  it('round-trips the ticket through the button value', async () => {
    const { ticket } = await deliver();
    const value = encodeTicket(ticket);
    expect(value.length).toBeLessThanOrEqual(2000); // Slack's limit for a button value
    expect(decodeTicket(value)).toEqual(ticket);
    expect(decodeTicket(`${value}x`)).toBeNull();
    expect(decodeTicket('not-a-ticket')).toBeNull();
  });
});

describe('expiry', () => {
  it('schedules the expiry job at created + 15 minutes and the wipe a day later, with no secret in them', async () => {
    const created = ctx.now();
    const { ticket } = await deliver();
    const jobs = await ctx.db.raw('SELECT kind, payload, run_at, status FROM jobs WHERE payload LIKE ?', [`%${ticket.deliveryId}%`]);
    expect(jobs).toEqual([
      { kind: REVEAL_EXPIRY_JOB, payload: JSON.stringify({ delivery: ticket.deliveryId }), run_at: created + WINDOW, status: 'pending' },
      { kind: 'delivery.wipe', payload: JSON.stringify({ delivery: ticket.deliveryId }), run_at: created + 24 * 60 * 60_000, status: 'pending' },
    ]);
  });

  it('wipes the ciphertext, and a second call does nothing', async () => {
    const { ticket } = await deliver();
    ctx.advance(WINDOW + 1);
    const expired = await expireDelivery(ctx, ticket.deliveryId);
    expect(expired).toMatchObject({ id: ticket.deliveryId, expiredAt: ctx.now(), revealedAt: null });
    expect(await row(ticket)).toMatchObject({ ciphertext: null, expired_at: ctx.now() });
    expect(await expireDelivery(ctx, ticket.deliveryId)).toBeNull();
    expect(await beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'expired' } });
  });

  it('does not expire a key that was already revealed', async () => {
    const { ticket } = await deliver();
    await beginReveal(ctx, ticket, owner);
    await finishReveal(ctx, ticket.deliveryId);
    ctx.advance(WINDOW + 1);
    expect(await expireDelivery(ctx, ticket.deliveryId)).toBeNull();
    expect((await row(ticket)).expired_at).toBeNull();
  });

  it('wipes the ciphertext on reveal of a rotation that has no GitHub target to retry', async () => {
    const started = await startRotation(ctx, owner, 'payments', null, 3600, false);
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    const { ticket } = started.value;
    await beginReveal(ctx, ticket, owner);
    await finishReveal(ctx, ticket.deliveryId);
    expect((await row(ticket)).ciphertext).toBeNull();
  });
});

describe('the plaintext never reaches the database', () => {
  it('in no cell of any table, at any step', async () => {
    const check = async (plaintext: string, step: string) => expect(await findPlaintext(ctx.db, plaintext), step).toEqual([]);
    expect(await tableCount(ctx.db)).toBeGreaterThanOrEqual(10);

    const revealed = await deliver();
    const plaintext = await peek(revealed.ticket);
    expect(sha256(plaintext)).toBe(await storedHash(revealed.key.id));
    await check(plaintext, 'after delivery');
    await beginReveal(ctx, { deliveryId: revealed.ticket.deliveryId, secret: otherSecret() }, owner);
    await check(plaintext, 'after a forged press');
    await beginReveal(ctx, revealed.ticket, owner);
    await check(plaintext, 'during the reveal');
    await finishReveal(ctx, revealed.ticket.deliveryId);
    await check(plaintext, 'after the reveal');

    const unrevealed = await deliver();
    const other = await peek(unrevealed.ticket);
    ctx.advance(WINDOW + 1);
    await expireDelivery(ctx, unrevealed.ticket.deliveryId);
    await check(other, 'after expiry');

    const rotation = await startRotation(ctx, owner, 'payments', revealed.key.publicId, 60, false);
    expect(rotation.ok).toBe(true);
    if (!rotation.ok) return;
    await check(rotation.value.plaintext, 'after a rotation started');
    await check(plaintext, 'old key after a rotation started');
  });

  it('would see a leak (the scan itself works)', async () => {
    const { ticket } = await deliver();
    const plaintext = await peek(ticket);
    await ctx.db.raw("UPDATE memberships SET added_by = ? WHERE user_id = 'UOWNER'", [`by ${plaintext}`]);
    // Its bytes in a bytes column (BLOB / BYTEA), and its hex in a text one.
    await ctx.db.raw('UPDATE key_deliveries SET ciphertext = ?, dm_ts = ? WHERE id = ?', [Buffer.from(plaintext), Buffer.from(plaintext).toString('hex'), ticket.deliveryId]);
    expect(await findPlaintext(ctx.db, plaintext)).toEqual([
      { table: 'key_deliveries', column: 'ciphertext' },
      { table: 'key_deliveries', column: 'dm_ts' },
      { table: 'memberships', column: 'added_by' },
    ]);
  });
});
