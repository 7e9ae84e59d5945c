import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SecretResult, SecretStore, SecretTarget } from '../../src/github/types.ts';
import { findLiveProject } from '../../src/services/access.ts';
import type { Actor } from '../../src/services/context.ts';
import { beginReveal, finishReveal, openForRetry, REVEAL_EXPIRY_JOB, type DeliveryTicket } from '../../src/services/deliveries.ts';
import { targetsOf, type Target, type TargetSpec } from '../../src/services/github-targets.ts';
import { authenticateKey, UsageRecorder } from '../../src/services/key-auth.ts';
import { activeKeys, issueKey, revokeKey, type ApiKey } from '../../src/services/keys.ts';
import { addMember } from '../../src/services/members.ts';
import { createProjects } from '../../src/services/projects.ts';
import { keepBothKeys, recordReminderSent, reminderDue, revokeOldKey, snoozeReminder } from '../../src/services/rotation-endings.ts';
import { findRotation, REMINDER_JOB, rotationDetails, startRotation, type StartedRotation } from '../../src/services/rotations.ts';
import { writeTarget } from '../../src/services/secret-sync.ts';
import { testContext, user } from '../helpers/db.ts';

const owner = user('UOWNER');
const admin = user('UADMIN');
const member = user('UMEMBER');
const reader = user('UREADER');
const outsider = user('UOUTSIDE');
const rescuer = user('URESCUE', true);

const HOUR = 3600;
const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;

let ctx: Awaited<ReturnType<typeof testContext>>;
/** The key every project starts with, and its plaintext (from its one-time reveal). */
let first: { key: ApiKey; plaintext: string };

async function reveal(ticket: DeliveryTicket, userId = owner.userId): Promise<string> {
  const begun = await beginReveal(ctx, ticket, user(userId));
  if (!begun.ok) throw new Error(begun.error.message);
  await finishReveal(ctx, ticket.deliveryId);
  return begun.value.plaintext;
}

beforeEach(async () => {
  ctx = await testContext();
  const created = await createProjects(ctx, owner, 'payments', null);
  if (!created.ok) throw new Error(created.error.message);
  await addMember(ctx, owner, 'payments', admin.userId, 'admin');
  await addMember(ctx, owner, 'payments', member.userId, 'member');
  await addMember(ctx, owner, 'payments', reader.userId, 'read_only');
  const { key, ticket } = created.value[0]!;
  first = { key, plaintext: await reveal(ticket) };
});
afterEach(async () => {
  await ctx.db.close();
});

const count = async (table: string) => ((await ctx.db.raw(`SELECT count(*) AS n FROM ${table}`))[0] as { n: number }).n;
const snapshot = async () => await Promise.all(['rotations', 'rotation_targets', 'api_keys', 'key_deliveries', 'jobs', 'audit_events'].map(count));
const jobsOf = async (kind: string) =>
  await ctx.db.raw('SELECT payload, run_at, status FROM jobs WHERE kind = ? ORDER BY id', [kind]) as {
    payload: string;
    run_at: number;
    status: string;
  }[];
const ciphertext = async (ticket: DeliveryTicket) =>
  ((await ctx.db.raw('SELECT ciphertext FROM key_deliveries WHERE id = ?', [ticket.deliveryId]))[0] as { ciphertext: Buffer | null })
    .ciphertext;
const works = async (plaintext: string) => await authenticateKey(ctx.db, plaintext) !== null;

async function rotate(actor: Actor = owner, keyId: string | null = null, overlap = HOUR, revokeNow = false): Promise<StartedRotation> {
  const result = await startRotation(ctx, actor, 'payments', keyId, overlap, revokeNow);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

/** Pretends an SDK used the key `agoMs` ago, through the real usage recorder. */
async function usedAgo(key: ApiKey, agoMs: number): Promise<void> {
  const usage = new UsageRecorder(ctx.db);
  usage.record(key.id, ctx.now() - agoMs);
  await usage.flush();
}

describe('startRotation', () => {
  it.each([
    ['owner', owner],
    ['admin', admin],
    ['workspace admin', rescuer],
  ])('lets the %s rotate', async (_label, who) => {
    const started = await startRotation(ctx, who, 'payments', null, HOUR, false);
    expect(started.ok).toBe(true);
    expect(started.ok && started.value.rotation.requestedBy).toBe(who.userId);
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and changes nothing', async (_label, who, code) => {
    const before = await snapshot();
    expect(await startRotation(ctx, who, 'payments', null, HOUR, false)).toMatchObject({ ok: false, error: { code } });
    expect(await snapshot()).toEqual(before);
  });

  it('picks the only active key and keeps both valid during the overlap', async () => {
    const at = ctx.now();
    const started = await rotate(admin, null, 2 * HOUR);
    expect(started.rotation).toMatchObject({
      oldKeyId: first.key.id,
      newKeyId: started.key.id,
      state: 'overlap',
      overlapSeconds: 2 * HOUR,
      createdAt: at,
      remindAt: at + 2 * HOUR * 1000,
      finishedAt: null,
    });
    expect(started.key.id).not.toBe(first.key.id);
    expect(started.key.name).toBe(first.key.name);
    expect(started.plaintext).not.toBe(first.plaintext);
    expect((await authenticateKey(ctx.db, first.plaintext))?.keyId).toBe(first.key.id);
    expect((await authenticateKey(ctx.db, started.plaintext))?.keyId).toBe(started.key.id);
    expect((await activeKeys(ctx.db, first.key.projectId)).map((k) => k.id)).toEqual([first.key.id, started.key.id]);
  });

  it('asks which key when there are several, and rotates the one named', async () => {
    const second = (await issueKey(ctx.db, ctx.now(), (await findLiveProject(ctx.db, 'payments'))!, 'ci', 'UOWNER')).key;
    const before = await snapshot();
    const vague = await startRotation(ctx, owner, 'payments', null, HOUR, false);
    expect(vague).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect(!vague.ok && vague.error.message).toContain(`${first.key.publicId}, ${second.publicId}`);
    expect(await snapshot()).toEqual(before);
    expect((await rotate(owner, second.publicId)).rotation.oldKeyId).toBe(second.id);
  });

  it.each(['key_00000000', 'garbage', 'KEY_0000'])('says not_found for the key id %j', async (id) => {
    const before = await snapshot();
    expect(await startRotation(ctx, owner, 'payments', id, HOUR, false)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await snapshot()).toEqual(before);
  });

  it('says not_found for a revoked key, and when no key is left', async () => {
    await revokeKey(ctx, owner, 'payments', first.key.publicId);
    expect(await startRotation(ctx, owner, 'payments', first.key.publicId, HOUR, false)).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    expect(await startRotation(ctx, owner, 'payments', null, HOUR, false)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await count('rotations')).toBe(0);
  });

  it('refuses a second rotation while one is open, naming the first, and changes nothing', async () => {
    await rotate(owner);
    const before = await snapshot();
    const second = await startRotation(ctx, admin, 'payments', null, HOUR, false);
    expect(second).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(!second.ok && second.error.message).toContain(first.key.publicId);
    expect(!second.ok && second.error.message).toContain('<@UOWNER>');
    expect(await snapshot()).toEqual(before);
  });

  it('with --revoke-now revokes the old key at once and schedules no reminder', async () => {
    const at = ctx.now();
    const started = await rotate(owner, null, HOUR, true);
    expect(await works(first.plaintext)).toBe(false);
    expect(await works(started.plaintext)).toBe(true);
    expect(started.rotation).toMatchObject({ state: 'revoked', remindAt: null, finishedAt: at, finishedBy: 'UOWNER' });
    expect(await jobsOf(REMINDER_JOB)).toEqual([]);
    expect((await jobsOf(REVEAL_EXPIRY_JOB)).map((j) => j.payload)).toContain(JSON.stringify({ delivery: started.ticket.deliveryId }));
    // The leak response closes the rotation, so the next one is not blocked.
    expect((await startRotation(ctx, owner, 'payments', null, HOUR, false)).ok).toBe(true);
  });

  it('schedules the reminder at now + overlap', async () => {
    const at = ctx.now();
    const started = await rotate(owner, null, 24 * HOUR);
    expect(await jobsOf(REMINDER_JOB)).toEqual([
      { payload: JSON.stringify({ rotation: started.rotation.id, remindAt: at + DAY_MS }), run_at: at + DAY_MS, status: 'pending' },
    ]);
  });

  it('allows an overlap of 0: the reminder is due at once', async () => {
    const started = await rotate(owner, null, 0);
    expect(started.rotation.remindAt).toBe(ctx.now());
    const seen: unknown[] = [];
    ctx.queue.register(REMINDER_JOB, async (job) => void seen.push(job.payload));
    ctx.queue.register(REVEAL_EXPIRY_JOB, async () => {});
    expect(await ctx.queue.runDue()).toBe(1);
    expect(seen).toEqual([{ rotation: started.rotation.id, remindAt: ctx.now() }]);
    expect((await reminderDue(ctx.db, started.rotation.id, ctx.now()))?.id).toBe(started.rotation.id);
  });
});

describe('revokeOldKey', () => {
  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and the old key keeps working', async (_label, who, code) => {
    const { rotation } = await rotate();
    const before = await snapshot();
    expect(await revokeOldKey(ctx, who, rotation.id, true)).toMatchObject({ ok: false, error: { code } });
    expect(await snapshot()).toEqual(before);
    expect(await works(first.plaintext)).toBe(true);
    expect((await findRotation(ctx.db, rotation.id))?.state).toBe('overlap');
  });

  it('revokes a key that was never used without asking', async () => {
    const { rotation, plaintext } = await rotate();
    ctx.advance(HOUR * 1000);
    const result = await revokeOldKey(ctx, admin, rotation.id, false);
    expect(result).toMatchObject({ ok: true, value: { done: true, rotation: { state: 'revoked', finishedBy: 'UADMIN', finishedAt: ctx.now() } } });
    expect(await works(first.plaintext)).toBe(false);
    expect(await works(plaintext)).toBe(true);
    expect(await revokeOldKey(ctx, admin, rotation.id, true)).toMatchObject({ ok: false, error: { code: 'already_done' } });
  });

  it('revokes a key last used more than 15 minutes ago without asking', async () => {
    const { rotation } = await rotate();
    ctx.advance(HOUR * 1000);
    await usedAgo(first.key, 15 * MINUTE_MS + 1);
    expect(await revokeOldKey(ctx, admin, rotation.id, false)).toMatchObject({ ok: true, value: { done: true } });
    expect(await works(first.plaintext)).toBe(false);
  });

  it('asks for confirmation when the old key was used in the last 15 minutes', async () => {
    const { rotation } = await rotate();
    ctx.advance(HOUR * 1000);
    await usedAgo(first.key, 15 * MINUTE_MS - 1);
    const before = await snapshot();
    const asked = await revokeOldKey(ctx, admin, rotation.id, false);
    expect(asked).toEqual({ ok: true, value: { done: false, lastUsedAt: ctx.now() - 15 * MINUTE_MS + 1 } });
    expect(await snapshot()).toEqual(before);
    expect(await works(first.plaintext)).toBe(true);

    expect(await revokeOldKey(ctx, admin, rotation.id, true)).toMatchObject({ ok: true, value: { done: true } });
    expect(await works(first.plaintext)).toBe(false);
  });

  it('lets a new rotation start once the old key is revoked', async () => {
    const { rotation, key } = await rotate();
    await revokeOldKey(ctx, owner, rotation.id, false);
    const next = await rotate(admin);
    expect(next.rotation.oldKeyId).toBe(key.id);
  });
});

describe('reminder, snooze and keep both', () => {
  it('snooze moves the reminder one day and only the new reminder is due', async () => {
    const { rotation } = await rotate(owner, null, HOUR);
    const stale = rotation.remindAt!;
    ctx.advance(HOUR * 1000);
    expect((await reminderDue(ctx.db, rotation.id, stale))?.id).toBe(rotation.id);

    const snoozed = await snoozeReminder(ctx, admin, rotation.id);
    const fresh = ctx.now() + DAY_MS;
    expect(snoozed).toMatchObject({ ok: true, value: { remindAt: fresh, state: 'overlap' } });
    expect((await jobsOf(REMINDER_JOB)).map((j) => [JSON.parse(j.payload), j.run_at])).toEqual([
      [{ rotation: rotation.id, remindAt: stale }, stale],
      [{ rotation: rotation.id, remindAt: fresh }, fresh],
    ]);
    expect(await reminderDue(ctx.db, rotation.id, stale)).toBeNull();
    expect((await reminderDue(ctx.db, rotation.id, fresh))?.id).toBe(rotation.id);
  });

  it('sends a reminder once', async () => {
    const { rotation } = await rotate(owner, null, HOUR);
    ctx.advance(HOUR * 1000);
    await recordReminderSent(ctx, rotation.id, { channel: 'D1', ts: '1.2' });
    expect(await reminderDue(ctx.db, rotation.id, rotation.remindAt!)).toBeNull();
    expect((await findRotation(ctx.db, rotation.id))?.reminder).toEqual({ channel: 'D1', ts: '1.2' });
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
  ])('refuses snooze and keep both to the %s', async (_label, who, code) => {
    const { rotation } = await rotate();
    const before = await snapshot();
    expect(await snoozeReminder(ctx, who, rotation.id)).toMatchObject({ ok: false, error: { code } });
    expect(await keepBothKeys(ctx, who, rotation.id)).toMatchObject({ ok: false, error: { code } });
    expect(await snapshot()).toEqual(before);
  });

  it('keep both ends the rotation with both keys valid', async () => {
    const { rotation, plaintext, key } = await rotate();
    const kept = await keepBothKeys(ctx, admin, rotation.id);
    expect(kept).toMatchObject({ ok: true, value: { state: 'kept', finishedBy: 'UADMIN' } });
    expect(await works(first.plaintext)).toBe(true);
    expect(await works(plaintext)).toBe(true);
    expect(await reminderDue(ctx.db, rotation.id, rotation.remindAt!)).toBeNull();
    expect(await revokeOldKey(ctx, admin, rotation.id, true)).toMatchObject({ ok: false, error: { code: 'already_done' } });
    expect(await snoozeReminder(ctx, admin, rotation.id)).toMatchObject({ ok: false, error: { code: 'already_done' } });
    // A new rotation is allowed; with two active keys it must name one.
    expect(await startRotation(ctx, owner, 'payments', null, HOUR, false)).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect((await rotate(owner, key.publicId)).rotation.oldKeyId).toBe(key.id);
  });
});

describe('GitHub targets and the kept ciphertext', () => {
  const repoSpec: TargetSpec = {
    kind: 'repo',
    owner: 'acme',
    repo: 'payments',
    environment: null,
    visibility: null,
    secretName: 'JAMJET_API_KEY',
  };
  const written: SecretResult = { ok: true, updatedAt: '2026-11-28T09:00:00Z' };
  const down: SecretResult = { ok: false, code: 'unavailable', status: 500, message: 'GitHub is down', retryable: true };
  const once = { attempts: 1, pauseMs: 0 };

  /** Answers with `results` in turn (the last one repeats) and records every write. */
  function fakeStore(...results: SecretResult[]) {
    const writes: { target: SecretTarget; value: string }[] = [];
    const store: SecretStore = {
      check: async () => written,
      inspect: async () => ({ ok: true, existing: null, missing: null }),
      write: async (target, value) => {
        writes.push({ target, value });
        return results[Math.min(writes.length - 1, results.length - 1)]!;
      },
    };
    return { store, writes };
  }

  /** A linked target as `github link` leaves it (the authority checks are tested in test/github/). */
  async function link(spec: TargetSpec = repoSpec): Promise<Target> {
    const projectId = ((await ctx.db.raw("SELECT id FROM projects WHERE name = 'payments'"))[0] as { id: number }).id;
    const [{ id }] = (await ctx.db.raw('INSERT INTO github_targets (project_id, kind, owner, repo, environment, visibility, secret_name, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id', [projectId, spec.kind, spec.owner, spec.repo, spec.environment, spec.visibility, spec.secretName, owner.userId, ctx.now()])) as [{ id: number }];
    return (await targetsOf(ctx.db, projectId)).find((t) => t.id === id)!;
  }

  const outcomes = async (rotationId: number) =>
    (await rotationDetails(ctx.db, rotationId))!.targets.map((t) => ({ id: t.target.id, status: t.status, message: t.message }));

  it('keeps the ciphertext while a target failed and wipes it once the target is written', async () => {
    const target = await link();
    const started = await rotate();
    expect(started.targets.map((t) => t.id)).toEqual([target.id]);
    expect(await outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'pending', message: null }]);
    const { store, writes } = fakeStore(down, written);

    expect(await reveal(started.ticket)).toBe(started.plaintext);
    expect(await ciphertext(started.ticket)).not.toBeNull();

    expect(await writeTarget(ctx, store, started.rotation.id, target, started.plaintext, 'UOWNER', once)).toBe(false);
    expect(await outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'failed', message: 'GitHub is down' }]);
    expect(await ciphertext(started.ticket)).not.toBeNull();
    expect(await openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);

    expect(await writeTarget(ctx, store, started.rotation.id, target, started.plaintext, 'UADMIN', once)).toBe(true);
    expect(await outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'written', message: null }]);
    expect(await ciphertext(started.ticket)).toBeNull();
    expect(await openForRetry(ctx.db, started.ticket)).toBeNull();

    expect(writes).toEqual([
      { target: { kind: 'repo', owner: 'acme', repo: 'payments', secretName: 'JAMJET_API_KEY' }, value: started.plaintext },
      { target: { kind: 'repo', owner: 'acme', repo: 'payments', secretName: 'JAMJET_API_KEY' }, value: started.plaintext },
    ]);
    const attempts = (await ctx.db.raw('SELECT attempts FROM rotation_targets WHERE rotation_id = ?', [started.rotation.id]))[0];
    expect(attempts).toEqual({ attempts: 2 });
    const events = await ctx.db.raw("SELECT actor, action, details FROM audit_events WHERE action LIKE 'github.secret_%' ORDER BY id") as { actor: string; action: string; details: string }[];
    expect(events.map((e) => [e.actor, e.action, JSON.parse(e.details).reason])).toEqual([
      ['UOWNER', 'github.secret_failed', 'GitHub is down'],
      ['UADMIN', 'github.secret_written', undefined],
    ]);
  });

  it('keeps the ciphertext while any one of several targets is not written', async () => {
    const a = await link();
    const b = await link({ ...repoSpec, repo: 'payments-worker' });
    const started = await rotate();
    await reveal(started.ticket);
    await writeTarget(ctx, fakeStore(written).store, started.rotation.id, a, started.plaintext, 'UOWNER', once);
    await writeTarget(ctx, fakeStore(down).store, started.rotation.id, b, started.plaintext, 'UOWNER', once);
    expect((await outcomes(started.rotation.id)).map((o) => o.status)).toEqual(['written', 'failed']);
    expect(await openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);
  });

  it('does not wipe a key nobody revealed yet just because GitHub has it', async () => {
    const target = await link();
    const started = await rotate();
    await writeTarget(ctx, fakeStore(written).store, started.rotation.id, target, started.plaintext, 'UOWNER', once);
    expect(await ciphertext(started.ticket)).not.toBeNull();
    expect(await reveal(started.ticket)).toBe(started.plaintext);
    expect(await ciphertext(started.ticket)).toBeNull();
  });

  it('retries a retryable failure within one write, but not a refusal', async () => {
    const target = await link();
    const started = await rotate();
    const flaky = fakeStore(down, written);
    expect(await writeTarget(ctx, flaky.store, started.rotation.id, target, started.plaintext, 'UOWNER', { attempts: 2, pauseMs: 0 })).toBe(true);
    expect(flaky.writes).toHaveLength(2);

    const forbidden: SecretResult = { ok: false, code: 'forbidden', status: 403, message: 'needs Secrets write', retryable: false };
    const refusing = fakeStore(forbidden);
    expect(await writeTarget(ctx, refusing.store, started.rotation.id, target, started.plaintext, 'UOWNER', { attempts: 3, pauseMs: 0 })).toBe(false);
    expect(refusing.writes).toHaveLength(1);
    expect(await outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'failed', message: 'needs Secrets write' }]);
  });

  // A --revoke-now rotation starts finished, and is exactly when CI needs the new key.
  it('keeps the key for a Retry of a failed target in a --revoke-now rotation', async () => {
    const target = await link();
    const started = await rotate(owner, null, HOUR, true);
    await writeTarget(ctx, fakeStore(down).store, started.rotation.id, target, started.plaintext, 'UOWNER', once);
    await reveal(started.ticket);
    expect(await openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);
  });

  // After *Keep both* or *Revoke old key* a failed target still needs the new
  // key; the ciphertext stays until the target is written or the retry window ends.
  it('keeps a ciphertext for a failed target after the rotation ends, until the target is written', async () => {
    const target = await link();
    const started = await rotate();
    await writeTarget(ctx, fakeStore(down).store, started.rotation.id, target, started.plaintext, 'UOWNER', once);
    await reveal(started.ticket);
    expect(await ciphertext(started.ticket)).not.toBeNull();
    expect((await keepBothKeys(ctx, owner, started.rotation.id)).ok).toBe(true);
    expect(await openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);
    const up: SecretResult = { ok: true, updatedAt: '2026-11-28T10:00:00Z' };
    expect(await writeTarget(ctx, fakeStore(up).store, started.rotation.id, target, started.plaintext, 'UOWNER', once)).toBe(true);
    expect(await ciphertext(started.ticket)).toBeNull();
  });

  it('schedules the end of the retry window a day after the rotation', async () => {
    const started = await rotate();
    const wipe = (await ctx.db.raw("SELECT run_at FROM jobs WHERE kind = 'delivery.wipe' AND payload LIKE ?", [`%${started.ticket.deliveryId}%`]))[0] as { run_at: number };
    expect(wipe.run_at).toBe(ctx.now() + 24 * 60 * 60_000);
  });
});
