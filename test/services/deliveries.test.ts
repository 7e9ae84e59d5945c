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
  createProjects(ctx, owner, 'payments', null);
  payments = findLiveProject(ctx.db, 'payments')!;
});
afterEach(async () => {
  await ctx.db.close();
});

type DeliveryRow = { ciphertext: Buffer | null; revealing_at: number | null; revealed_at: number | null; expired_at: number | null };
const row = (ticket: DeliveryTicket) =>
  ctx.db.sqlite
    .prepare('SELECT ciphertext, revealing_at, revealed_at, expired_at FROM key_deliveries WHERE id = ?')
    .get(ticket.deliveryId) as DeliveryRow;
const storedHash = (keyId: number) => (ctx.db.sqlite.prepare('SELECT hash FROM api_keys WHERE id = ?').get(keyId) as { hash: string }).hash;

/** A new key sealed for the owner, as `keys create` does it. */
const deliver = (to = owner.userId) => ctx.db.transaction(() => issueDeliveredKey(ctx, payments, 'ci', to));

/** The plaintext, found through a reveal, then the delivery put back as if nobody had pressed. */
function peek(ticket: DeliveryTicket): string {
  const begun = beginReveal(ctx, ticket, owner);
  if (!begun.ok) throw new Error(begun.error.message);
  abortReveal(ctx, ticket.deliveryId);
  return begun.value.plaintext;
}

const otherSecret = () => randomBytes(32).toString('base64url');

describe('one-time reveal', () => {
  it('shows the right user exactly the key whose hash is stored, once', () => {
    const { key, ticket } = deliver();
    const begun = beginReveal(ctx, ticket, owner);
    expect(begun.ok).toBe(true);
    if (!begun.ok) return;
    expect(begun.value.plaintext).toMatch(/^jj_[0-9a-f]{32}$/);
    expect(sha256(begun.value.plaintext)).toBe(storedHash(key.id));
    expect(begun.value.key.id).toBe(key.id);

    ctx.advance(2000);
    const done = finishReveal(ctx, ticket.deliveryId);
    expect(done.revealedAt).toBe(ctx.now());
    expect(row(ticket)).toMatchObject({ ciphertext: null, revealing_at: null, revealed_at: ctx.now() });

    const again = beginReveal(ctx, ticket, owner);
    expect(again).toMatchObject({ ok: false, error: { code: 'already_done' } });
  });

  it('refuses anyone else and changes nothing', () => {
    const { ticket } = deliver();
    const before = row(ticket);
    const result = beginReveal(ctx, ticket, user('UINTRUDER'));
    expect(result).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(!result.ok && result.error.message).toContain('<@UOWNER>');
    expect(row(ticket)).toEqual(before);
    expect(beginReveal(ctx, ticket, owner).ok).toBe(true);
  });

  it('expires after 15 minutes', () => {
    const { ticket } = deliver();
    ctx.advance(WINDOW);
    // The last millisecond of the window still counts.
    expect(beginReveal(ctx, ticket, owner).ok).toBe(true);
    abortReveal(ctx, ticket.deliveryId);
    ctx.advance(1);
    expect(beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'expired' } });
  });

  it('refuses a ticket with the wrong secret, and the real button still works after', () => {
    const { key, ticket } = deliver();
    const forged = { deliveryId: ticket.deliveryId, secret: otherSecret() };
    expect(beginReveal(ctx, forged, owner)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(row(ticket)).toMatchObject({ revealing_at: null, revealed_at: null });
    expect(row(ticket).ciphertext).not.toBeNull();
    const real = beginReveal(ctx, ticket, owner);
    expect(real.ok && sha256(real.value.plaintext)).toBe(storedHash(key.id));
  });

  it('refuses someone removed or demoted since the key was made', () => {
    addMember(ctx, owner, 'payments', 'UBOB', 'admin');
    const { ticket } = deliver('UBOB');
    expect(changeRole(ctx, owner, 'payments', 'UBOB', 'member').ok).toBe(true);
    expect(beginReveal(ctx, ticket, user('UBOB'))).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(removeMember(ctx, owner, 'payments', 'UBOB').ok).toBe(true);
    expect(beginReveal(ctx, ticket, user('UBOB'))).toMatchObject({ ok: false, error: { code: 'no_access' } });
    expect(row(ticket).revealing_at).toBeNull();
  });

  it('says not_found for a delivery that does not exist', () => {
    const ticket = { deliveryId: '00000000-0000-4000-8000-000000000000', secret: otherSecret() };
    expect(beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('refuses a second press while the first one holds the lease', () => {
    const { ticket } = deliver();
    expect(beginReveal(ctx, ticket, owner).ok).toBe(true);
    ctx.advance(5000);
    expect(beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'already_done' } });
  });

  it('lets the person press again after Slack failed to open the modal', () => {
    const { ticket } = deliver();
    const first = beginReveal(ctx, ticket, owner);
    abortReveal(ctx, ticket.deliveryId);
    const second = beginReveal(ctx, ticket, owner);
    expect(second.ok).toBe(true);
    expect(first.ok && second.ok && second.value.plaintext === first.value.plaintext).toBe(true);
  });

  it('lets a press that never finished be retried once its 30 s lease is over', () => {
    const { ticket } = deliver();
    expect(beginReveal(ctx, ticket, owner).ok).toBe(true);
    ctx.advance(29_999);
    expect(beginReveal(ctx, ticket, owner).ok).toBe(false);
    ctx.advance(1);
    expect(beginReveal(ctx, ticket, owner).ok).toBe(true);
  });

  it('round-trips the ticket through the button value', () => {
    const { ticket } = deliver();
    const value = encodeTicket(ticket);
    expect(value.length).toBeLessThanOrEqual(2000); // Slack's limit for a button value
    expect(decodeTicket(value)).toEqual(ticket);
    expect(decodeTicket(`${value}x`)).toBeNull();
    expect(decodeTicket('not-a-ticket')).toBeNull();
  });
});

describe('expiry', () => {
  it('schedules the expiry job at created + 15 minutes and the wipe a day later, with no secret in them', () => {
    const created = ctx.now();
    const { ticket } = deliver();
    const jobs = ctx.db.sqlite
      .prepare('SELECT kind, payload, run_at, status FROM jobs WHERE payload LIKE ?')
      .all(`%${ticket.deliveryId}%`);
    expect(jobs).toEqual([
      { kind: REVEAL_EXPIRY_JOB, payload: JSON.stringify({ delivery: ticket.deliveryId }), run_at: created + WINDOW, status: 'pending' },
      { kind: 'delivery.wipe', payload: JSON.stringify({ delivery: ticket.deliveryId }), run_at: created + 24 * 60 * 60_000, status: 'pending' },
    ]);
  });

  it('wipes the ciphertext, and a second call does nothing', () => {
    const { ticket } = deliver();
    ctx.advance(WINDOW + 1);
    const expired = expireDelivery(ctx, ticket.deliveryId);
    expect(expired).toMatchObject({ id: ticket.deliveryId, expiredAt: ctx.now(), revealedAt: null });
    expect(row(ticket)).toMatchObject({ ciphertext: null, expired_at: ctx.now() });
    expect(expireDelivery(ctx, ticket.deliveryId)).toBeNull();
    expect(beginReveal(ctx, ticket, owner)).toMatchObject({ ok: false, error: { code: 'expired' } });
  });

  it('does not expire a key that was already revealed', () => {
    const { ticket } = deliver();
    beginReveal(ctx, ticket, owner);
    finishReveal(ctx, ticket.deliveryId);
    ctx.advance(WINDOW + 1);
    expect(expireDelivery(ctx, ticket.deliveryId)).toBeNull();
    expect(row(ticket).expired_at).toBeNull();
  });

  it('wipes the ciphertext on reveal of a rotation that has no GitHub target to retry', () => {
    const started = startRotation(ctx, owner, 'payments', null, 3600, false);
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    const { ticket } = started.value;
    beginReveal(ctx, ticket, owner);
    finishReveal(ctx, ticket.deliveryId);
    expect(row(ticket).ciphertext).toBeNull();
  });
});

describe('the plaintext never reaches the database', () => {
  it('in no cell of any table, at any step', () => {
    const check = (plaintext: string, step: string) => expect(findPlaintext(ctx.db, plaintext), step).toEqual([]);
    expect(tableCount(ctx.db)).toBeGreaterThanOrEqual(10);

    const revealed = deliver();
    const plaintext = peek(revealed.ticket);
    expect(sha256(plaintext)).toBe(storedHash(revealed.key.id));
    check(plaintext, 'after delivery');
    beginReveal(ctx, { deliveryId: revealed.ticket.deliveryId, secret: otherSecret() }, owner);
    check(plaintext, 'after a forged press');
    beginReveal(ctx, revealed.ticket, owner);
    check(plaintext, 'during the reveal');
    finishReveal(ctx, revealed.ticket.deliveryId);
    check(plaintext, 'after the reveal');

    const unrevealed = deliver();
    const other = peek(unrevealed.ticket);
    ctx.advance(WINDOW + 1);
    expireDelivery(ctx, unrevealed.ticket.deliveryId);
    check(other, 'after expiry');

    const rotation = startRotation(ctx, owner, 'payments', revealed.key.publicId, 60, false);
    expect(rotation.ok).toBe(true);
    if (!rotation.ok) return;
    check(rotation.value.plaintext, 'after a rotation started');
    check(plaintext, 'old key after a rotation started');
  });

  it('would see a leak (the scan itself works)', () => {
    const { ticket } = deliver();
    const plaintext = peek(ticket);
    ctx.db.sqlite.prepare("UPDATE memberships SET added_by = ? WHERE user_id = 'UOWNER'").run(`by ${plaintext}`);
    ctx.db.sqlite.prepare('UPDATE key_deliveries SET dm_ts = ? WHERE id = ?').run(Buffer.from(plaintext), ticket.deliveryId);
    expect(findPlaintext(ctx.db, plaintext)).toEqual([
      { table: 'memberships', column: 'added_by' },
      { table: 'key_deliveries', column: 'dm_ts' },
    ]);
  });
});
