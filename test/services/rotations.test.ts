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

function reveal(ticket: DeliveryTicket, userId = owner.userId): string {
  const begun = beginReveal(ctx, ticket, user(userId));
  if (!begun.ok) throw new Error(begun.error.message);
  finishReveal(ctx, ticket.deliveryId);
  return begun.value.plaintext;
}

beforeEach(async () => {
  ctx = await testContext();
  const created = createProjects(ctx, owner, 'payments', null);
  if (!created.ok) throw new Error(created.error.message);
  addMember(ctx, owner, 'payments', admin.userId, 'admin');
  addMember(ctx, owner, 'payments', member.userId, 'member');
  addMember(ctx, owner, 'payments', reader.userId, 'read_only');
  const { key, ticket } = created.value[0]!;
  first = { key, plaintext: reveal(ticket) };
});
afterEach(async () => {
  await ctx.db.close();
});

const count = (table: string) => (ctx.db.sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const snapshot = () => ['rotations', 'rotation_targets', 'api_keys', 'key_deliveries', 'jobs', 'audit_events'].map(count);
const jobsOf = (kind: string) =>
  ctx.db.sqlite.prepare('SELECT payload, run_at, status FROM jobs WHERE kind = ? ORDER BY id').all(kind) as {
    payload: string;
    run_at: number;
    status: string;
  }[];
const ciphertext = (ticket: DeliveryTicket) =>
  (ctx.db.sqlite.prepare('SELECT ciphertext FROM key_deliveries WHERE id = ?').get(ticket.deliveryId) as { ciphertext: Buffer | null })
    .ciphertext;
const works = (plaintext: string) => authenticateKey(ctx.db, plaintext) !== null;

function rotate(actor: Actor = owner, keyId: string | null = null, overlap = HOUR, revokeNow = false): StartedRotation {
  const result = startRotation(ctx, actor, 'payments', keyId, overlap, revokeNow);
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

/** Pretends an SDK used the key `agoMs` ago, through the real usage recorder. */
function usedAgo(key: ApiKey, agoMs: number): void {
  const usage = new UsageRecorder(ctx.db);
  usage.record(key.id, ctx.now() - agoMs);
  usage.flush();
}

describe('startRotation', () => {
  it.each([
    ['owner', owner],
    ['admin', admin],
    ['workspace admin', rescuer],
  ])('lets the %s rotate', (_label, who) => {
    const started = startRotation(ctx, who, 'payments', null, HOUR, false);
    expect(started.ok).toBe(true);
    expect(started.ok && started.value.rotation.requestedBy).toBe(who.userId);
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and changes nothing', (_label, who, code) => {
    const before = snapshot();
    expect(startRotation(ctx, who, 'payments', null, HOUR, false)).toMatchObject({ ok: false, error: { code } });
    expect(snapshot()).toEqual(before);
  });

  it('picks the only active key and keeps both valid during the overlap', () => {
    const at = ctx.now();
    const started = rotate(admin, null, 2 * HOUR);
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
    expect(authenticateKey(ctx.db, first.plaintext)?.keyId).toBe(first.key.id);
    expect(authenticateKey(ctx.db, started.plaintext)?.keyId).toBe(started.key.id);
    expect(activeKeys(ctx.db, first.key.projectId).map((k) => k.id)).toEqual([first.key.id, started.key.id]);
  });

  it('asks which key when there are several, and rotates the one named', () => {
    const second = issueKey(ctx.db, ctx.now(), findLiveProject(ctx.db, 'payments')!, 'ci', 'UOWNER').key;
    const before = snapshot();
    const vague = startRotation(ctx, owner, 'payments', null, HOUR, false);
    expect(vague).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect(!vague.ok && vague.error.message).toContain(`${first.key.publicId}, ${second.publicId}`);
    expect(snapshot()).toEqual(before);
    expect(rotate(owner, second.publicId).rotation.oldKeyId).toBe(second.id);
  });

  it.each(['key_00000000', 'garbage', 'KEY_0000'])('says not_found for the key id %j', (id) => {
    const before = snapshot();
    expect(startRotation(ctx, owner, 'payments', id, HOUR, false)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(snapshot()).toEqual(before);
  });

  it('says not_found for a revoked key, and when no key is left', () => {
    revokeKey(ctx, owner, 'payments', first.key.publicId);
    expect(startRotation(ctx, owner, 'payments', first.key.publicId, HOUR, false)).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    expect(startRotation(ctx, owner, 'payments', null, HOUR, false)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(count('rotations')).toBe(0);
  });

  it('refuses a second rotation while one is open, naming the first, and changes nothing', () => {
    rotate(owner);
    const before = snapshot();
    const second = startRotation(ctx, admin, 'payments', null, HOUR, false);
    expect(second).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(!second.ok && second.error.message).toContain(first.key.publicId);
    expect(!second.ok && second.error.message).toContain('<@UOWNER>');
    expect(snapshot()).toEqual(before);
  });

  it('with --revoke-now revokes the old key at once and schedules no reminder', () => {
    const at = ctx.now();
    const started = rotate(owner, null, HOUR, true);
    expect(works(first.plaintext)).toBe(false);
    expect(works(started.plaintext)).toBe(true);
    expect(started.rotation).toMatchObject({ state: 'revoked', remindAt: null, finishedAt: at, finishedBy: 'UOWNER' });
    expect(jobsOf(REMINDER_JOB)).toEqual([]);
    expect(jobsOf(REVEAL_EXPIRY_JOB).map((j) => j.payload)).toContain(JSON.stringify({ delivery: started.ticket.deliveryId }));
    // The leak response closes the rotation, so the next one is not blocked.
    expect(startRotation(ctx, owner, 'payments', null, HOUR, false).ok).toBe(true);
  });

  it('schedules the reminder at now + overlap', () => {
    const at = ctx.now();
    const started = rotate(owner, null, 24 * HOUR);
    expect(jobsOf(REMINDER_JOB)).toEqual([
      { payload: JSON.stringify({ rotation: started.rotation.id, remindAt: at + DAY_MS }), run_at: at + DAY_MS, status: 'pending' },
    ]);
  });

  it('allows an overlap of 0: the reminder is due at once', async () => {
    const started = rotate(owner, null, 0);
    expect(started.rotation.remindAt).toBe(ctx.now());
    const seen: unknown[] = [];
    ctx.queue.register(REMINDER_JOB, async (job) => void seen.push(job.payload));
    ctx.queue.register(REVEAL_EXPIRY_JOB, async () => {});
    expect(await ctx.queue.runDue()).toBe(1);
    expect(seen).toEqual([{ rotation: started.rotation.id, remindAt: ctx.now() }]);
    expect(reminderDue(ctx.db, started.rotation.id, ctx.now())?.id).toBe(started.rotation.id);
  });
});

describe('revokeOldKey', () => {
  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and the old key keeps working', (_label, who, code) => {
    const { rotation } = rotate();
    const before = snapshot();
    expect(revokeOldKey(ctx, who, rotation.id, true)).toMatchObject({ ok: false, error: { code } });
    expect(snapshot()).toEqual(before);
    expect(works(first.plaintext)).toBe(true);
    expect(findRotation(ctx.db, rotation.id)?.state).toBe('overlap');
  });

  it('revokes a key that was never used without asking', () => {
    const { rotation, plaintext } = rotate();
    ctx.advance(HOUR * 1000);
    const result = revokeOldKey(ctx, admin, rotation.id, false);
    expect(result).toMatchObject({ ok: true, value: { done: true, rotation: { state: 'revoked', finishedBy: 'UADMIN', finishedAt: ctx.now() } } });
    expect(works(first.plaintext)).toBe(false);
    expect(works(plaintext)).toBe(true);
    expect(revokeOldKey(ctx, admin, rotation.id, true)).toMatchObject({ ok: false, error: { code: 'already_done' } });
  });

  it('revokes a key last used more than 15 minutes ago without asking', () => {
    const { rotation } = rotate();
    ctx.advance(HOUR * 1000);
    usedAgo(first.key, 15 * MINUTE_MS + 1);
    expect(revokeOldKey(ctx, admin, rotation.id, false)).toMatchObject({ ok: true, value: { done: true } });
    expect(works(first.plaintext)).toBe(false);
  });

  it('asks for confirmation when the old key was used in the last 15 minutes', () => {
    const { rotation } = rotate();
    ctx.advance(HOUR * 1000);
    usedAgo(first.key, 15 * MINUTE_MS - 1);
    const before = snapshot();
    const asked = revokeOldKey(ctx, admin, rotation.id, false);
    expect(asked).toEqual({ ok: true, value: { done: false, lastUsedAt: ctx.now() - 15 * MINUTE_MS + 1 } });
    expect(snapshot()).toEqual(before);
    expect(works(first.plaintext)).toBe(true);

    expect(revokeOldKey(ctx, admin, rotation.id, true)).toMatchObject({ ok: true, value: { done: true } });
    expect(works(first.plaintext)).toBe(false);
  });

  it('lets a new rotation start once the old key is revoked', () => {
    const { rotation, key } = rotate();
    revokeOldKey(ctx, owner, rotation.id, false);
    const next = rotate(admin);
    expect(next.rotation.oldKeyId).toBe(key.id);
  });
});

describe('reminder, snooze and keep both', () => {
  it('snooze moves the reminder one day and only the new reminder is due', () => {
    const { rotation } = rotate(owner, null, HOUR);
    const stale = rotation.remindAt!;
    ctx.advance(HOUR * 1000);
    expect(reminderDue(ctx.db, rotation.id, stale)?.id).toBe(rotation.id);

    const snoozed = snoozeReminder(ctx, admin, rotation.id);
    const fresh = ctx.now() + DAY_MS;
    expect(snoozed).toMatchObject({ ok: true, value: { remindAt: fresh, state: 'overlap' } });
    expect(jobsOf(REMINDER_JOB).map((j) => [JSON.parse(j.payload), j.run_at])).toEqual([
      [{ rotation: rotation.id, remindAt: stale }, stale],
      [{ rotation: rotation.id, remindAt: fresh }, fresh],
    ]);
    expect(reminderDue(ctx.db, rotation.id, stale)).toBeNull();
    expect(reminderDue(ctx.db, rotation.id, fresh)?.id).toBe(rotation.id);
  });

  it('sends a reminder once', () => {
    const { rotation } = rotate(owner, null, HOUR);
    ctx.advance(HOUR * 1000);
    recordReminderSent(ctx, rotation.id, { channel: 'D1', ts: '1.2' });
    expect(reminderDue(ctx.db, rotation.id, rotation.remindAt!)).toBeNull();
    expect(findRotation(ctx.db, rotation.id)?.reminder).toEqual({ channel: 'D1', ts: '1.2' });
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
  ])('refuses snooze and keep both to the %s', (_label, who, code) => {
    const { rotation } = rotate();
    const before = snapshot();
    expect(snoozeReminder(ctx, who, rotation.id)).toMatchObject({ ok: false, error: { code } });
    expect(keepBothKeys(ctx, who, rotation.id)).toMatchObject({ ok: false, error: { code } });
    expect(snapshot()).toEqual(before);
  });

  it('keep both ends the rotation with both keys valid', () => {
    const { rotation, plaintext, key } = rotate();
    const kept = keepBothKeys(ctx, admin, rotation.id);
    expect(kept).toMatchObject({ ok: true, value: { state: 'kept', finishedBy: 'UADMIN' } });
    expect(works(first.plaintext)).toBe(true);
    expect(works(plaintext)).toBe(true);
    expect(reminderDue(ctx.db, rotation.id, rotation.remindAt!)).toBeNull();
    expect(revokeOldKey(ctx, admin, rotation.id, true)).toMatchObject({ ok: false, error: { code: 'already_done' } });
    expect(snoozeReminder(ctx, admin, rotation.id)).toMatchObject({ ok: false, error: { code: 'already_done' } });
    // A new rotation is allowed; with two active keys it must name one.
    expect(startRotation(ctx, owner, 'payments', null, HOUR, false)).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect(rotate(owner, key.publicId).rotation.oldKeyId).toBe(key.id);
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
  function link(spec: TargetSpec = repoSpec): Target {
    const projectId = (ctx.db.sqlite.prepare("SELECT id FROM projects WHERE name = 'payments'").get() as { id: number }).id;
    const { lastInsertRowid } = ctx.db.sqlite
      .prepare('INSERT INTO github_targets (project_id, kind, owner, repo, environment, visibility, secret_name, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(projectId, spec.kind, spec.owner, spec.repo, spec.environment, spec.visibility, spec.secretName, owner.userId, ctx.now());
    return targetsOf(ctx.db, projectId).find((t) => t.id === Number(lastInsertRowid))!;
  }

  const outcomes = (rotationId: number) =>
    rotationDetails(ctx.db, rotationId)!.targets.map((t) => ({ id: t.target.id, status: t.status, message: t.message }));

  it('keeps the ciphertext while a target failed and wipes it once the target is written', async () => {
    const target = link();
    const started = rotate();
    expect(started.targets.map((t) => t.id)).toEqual([target.id]);
    expect(outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'pending', message: null }]);
    const { store, writes } = fakeStore(down, written);

    expect(reveal(started.ticket)).toBe(started.plaintext);
    expect(ciphertext(started.ticket)).not.toBeNull();

    expect(await writeTarget(ctx, store, started.rotation.id, target, started.plaintext, 'UOWNER', once)).toBe(false);
    expect(outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'failed', message: 'GitHub is down' }]);
    expect(ciphertext(started.ticket)).not.toBeNull();
    expect(openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);

    expect(await writeTarget(ctx, store, started.rotation.id, target, started.plaintext, 'UADMIN', once)).toBe(true);
    expect(outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'written', message: null }]);
    expect(ciphertext(started.ticket)).toBeNull();
    expect(openForRetry(ctx.db, started.ticket)).toBeNull();

    expect(writes).toEqual([
      { target: { kind: 'repo', owner: 'acme', repo: 'payments', secretName: 'JAMJET_API_KEY' }, value: started.plaintext },
      { target: { kind: 'repo', owner: 'acme', repo: 'payments', secretName: 'JAMJET_API_KEY' }, value: started.plaintext },
    ]);
    const attempts = ctx.db.sqlite.prepare('SELECT attempts FROM rotation_targets WHERE rotation_id = ?').get(started.rotation.id);
    expect(attempts).toEqual({ attempts: 2 });
    const events = ctx.db.sqlite
      .prepare("SELECT actor, action, details FROM audit_events WHERE action LIKE 'github.secret_%' ORDER BY id")
      .all() as { actor: string; action: string; details: string }[];
    expect(events.map((e) => [e.actor, e.action, JSON.parse(e.details).reason])).toEqual([
      ['UOWNER', 'github.secret_failed', 'GitHub is down'],
      ['UADMIN', 'github.secret_written', undefined],
    ]);
  });

  it('keeps the ciphertext while any one of several targets is not written', async () => {
    const a = link();
    const b = link({ ...repoSpec, repo: 'payments-worker' });
    const started = rotate();
    reveal(started.ticket);
    await writeTarget(ctx, fakeStore(written).store, started.rotation.id, a, started.plaintext, 'UOWNER', once);
    await writeTarget(ctx, fakeStore(down).store, started.rotation.id, b, started.plaintext, 'UOWNER', once);
    expect(outcomes(started.rotation.id).map((o) => o.status)).toEqual(['written', 'failed']);
    expect(openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);
  });

  it('does not wipe a key nobody revealed yet just because GitHub has it', async () => {
    const target = link();
    const started = rotate();
    await writeTarget(ctx, fakeStore(written).store, started.rotation.id, target, started.plaintext, 'UOWNER', once);
    expect(ciphertext(started.ticket)).not.toBeNull();
    expect(reveal(started.ticket)).toBe(started.plaintext);
    expect(ciphertext(started.ticket)).toBeNull();
  });

  it('retries a retryable failure within one write, but not a refusal', async () => {
    const target = link();
    const started = rotate();
    const flaky = fakeStore(down, written);
    expect(await writeTarget(ctx, flaky.store, started.rotation.id, target, started.plaintext, 'UOWNER', { attempts: 2, pauseMs: 0 })).toBe(true);
    expect(flaky.writes).toHaveLength(2);

    const forbidden: SecretResult = { ok: false, code: 'forbidden', status: 403, message: 'needs Secrets write', retryable: false };
    const refusing = fakeStore(forbidden);
    expect(await writeTarget(ctx, refusing.store, started.rotation.id, target, started.plaintext, 'UOWNER', { attempts: 3, pauseMs: 0 })).toBe(false);
    expect(refusing.writes).toHaveLength(1);
    expect(outcomes(started.rotation.id)).toEqual([{ id: target.id, status: 'failed', message: 'needs Secrets write' }]);
  });

  // A --revoke-now rotation starts finished, and is exactly when CI needs the new key.
  it('keeps the key for a Retry of a failed target in a --revoke-now rotation', async () => {
    const target = link();
    const started = rotate(owner, null, HOUR, true);
    await writeTarget(ctx, fakeStore(down).store, started.rotation.id, target, started.plaintext, 'UOWNER', once);
    reveal(started.ticket);
    expect(openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);
  });

  // After *Keep both* or *Revoke old key* a failed target still needs the new
  // key; the ciphertext stays until the target is written or the retry window ends.
  it('keeps a ciphertext for a failed target after the rotation ends, until the target is written', async () => {
    const target = link();
    const started = rotate();
    await writeTarget(ctx, fakeStore(down).store, started.rotation.id, target, started.plaintext, 'UOWNER', once);
    reveal(started.ticket);
    expect(ciphertext(started.ticket)).not.toBeNull();
    expect(keepBothKeys(ctx, owner, started.rotation.id).ok).toBe(true);
    expect(openForRetry(ctx.db, started.ticket)).toBe(started.plaintext);
    const up: SecretResult = { ok: true, updatedAt: '2026-11-28T10:00:00Z' };
    expect(await writeTarget(ctx, fakeStore(up).store, started.rotation.id, target, started.plaintext, 'UOWNER', once)).toBe(true);
    expect(ciphertext(started.ticket)).toBeNull();
  });

  it('schedules the end of the retry window a day after the rotation', () => {
    const started = rotate();
    const wipe = ctx.db.sqlite
      .prepare("SELECT run_at FROM jobs WHERE kind = 'delivery.wipe' AND payload LIKE ?")
      .get(`%${started.ticket.deliveryId}%`) as { run_at: number };
    expect(wipe.run_at).toBe(ctx.now() + 24 * 60 * 60_000);
  });
});
