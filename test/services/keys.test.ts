import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mintKey } from '../../src/core/keys.ts';
import { openDb } from '../../src/db/database.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import { findLiveProject, type Project } from '../../src/services/access.ts';
import { authenticateKey, UsageRecorder } from '../../src/services/key-auth.ts';
import { activeKeys, createKey, issueKey, listKeys, revokeKey } from '../../src/services/keys.ts';
import { addMember } from '../../src/services/members.ts';
import { createProjects, deleteProject } from '../../src/services/projects.ts';
import { testContext, testDb, user } from '../helpers/db.ts';
import { findPlaintext } from './plaintext-scan.ts';

const owner = user('UOWNER');
const admin = user('UADMIN');
const member = user('UMEMBER');
const reader = user('UREADER');
const outsider = user('UOUTSIDE');
const rescuer = user('URESCUE', true);

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let ctx: Awaited<ReturnType<typeof testContext>>;
let payments: Project;

const count = (table: string) => (ctx.db.sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const snapshot = () => ['api_keys', 'key_deliveries', 'jobs', 'audit_events'].map(count);
const lastUsed = (keyId: number) =>
  (ctx.db.sqlite.prepare('SELECT last_used_at FROM api_keys WHERE id = ?').get(keyId) as { last_used_at: number | null }).last_used_at;

beforeEach(async () => {
  ctx = await testContext();
  createProjects(ctx, owner, 'payments', null);
  addMember(ctx, owner, 'payments', admin.userId, 'admin');
  addMember(ctx, owner, 'payments', member.userId, 'member');
  addMember(ctx, owner, 'payments', reader.userId, 'read_only');
  payments = findLiveProject(ctx.db, 'payments')!;
});
afterEach(async () => {
  await ctx.db.close();
});

describe('key format and storage', () => {
  it('mints jj_ + 32 lowercase hex, never the same twice', () => {
    const keys = Array.from({ length: 1000 }, () => mintKey());
    for (const key of keys) expect(key).toMatch(/^jj_[0-9a-f]{32}$/);
    expect(new Set(keys).size).toBe(1000);
  });

  it('stores only the SHA-256 and a display form', () => {
    const { key, plaintext } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const row = ctx.db.sqlite.prepare('SELECT * FROM api_keys WHERE id = ?').get(key.id) as Record<string, unknown>;
    expect(row.hash).toBe(sha256(plaintext));
    for (const [column, value] of Object.entries(row)) {
      if (typeof value === 'string') expect(value, column).not.toContain(plaintext.slice(3));
    }
    expect(findPlaintext(ctx.db, plaintext)).toEqual([]);
  });

  it('shows a key as jj_ + 4 hex … last 4 hex', () => {
    const { key, plaintext } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(key.display).toMatch(/^jj_[0-9a-f]{4}…[0-9a-f]{4}$/);
    expect(key.display).toBe(`jj_${plaintext.slice(3, 7)}…${plaintext.slice(-4)}`);
  });

  it('gives every project created, one per environment, exactly one active key', () => {
    const created = createProjects(ctx, owner, 'shop', ['dev', 'prod']);
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.value).toHaveLength(2);
    for (const { project, key } of created.value) {
      expect(activeKeys(ctx.db, project.id).map((k) => k.id)).toEqual([key.id]);
      expect(key.name).toBe('default');
    }
    expect(activeKeys(ctx.db, payments.id)).toHaveLength(1);
  });
});

describe('createKey', () => {
  it.each([
    ['owner', owner],
    ['admin', admin],
    ['workspace admin', rescuer],
  ])('lets the %s create a key', (_label, who) => {
    const result = createKey(ctx, who, 'payments', 'ci');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.key).toMatchObject({ projectId: payments.id, name: 'ci', createdBy: who.userId, revokedAt: null });
    expect(activeKeys(ctx.db, payments.id)).toHaveLength(2);
    const delivery = ctx.db.sqlite.prepare('SELECT key_id, user_id FROM key_deliveries WHERE id = ?').get(result.value.ticket.deliveryId);
    expect(delivery).toEqual({ key_id: result.value.key.id, user_id: who.userId });
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and changes nothing', (_label, who, code) => {
    const before = snapshot();
    const result = createKey(ctx, who, 'payments', 'ci');
    expect(result).toMatchObject({ ok: false, error: { code } });
    expect(snapshot()).toEqual(before);
  });

  it('tells an outsider nothing about whether the project exists', () => {
    const real = createKey(ctx, outsider, 'payments', 'ci');
    const missing = createKey(ctx, outsider, 'nothing-here', 'ci');
    expect(!real.ok && real.error.message.replace('payments', 'X')).toBe(!missing.ok && missing.error.message.replace('nothing-here', 'X'));
  });

  it('stops at 20 active keys', () => {
    for (let i = 0; i < 19; i++) expect(createKey(ctx, owner, 'payments', `k${i}`).ok).toBe(true);
    const before = snapshot();
    expect(createKey(ctx, owner, 'payments', 'one-too-many')).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(snapshot()).toEqual(before);
  });
});

describe('revokeKey', () => {
  it('refuses the key from the very next check', () => {
    const { key, plaintext } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const other = issueKey(ctx.db, ctx.now(), payments, 'other', 'UOWNER');
    expect(authenticateKey(ctx.db, plaintext)).toEqual({
      keyId: key.id,
      publicId: key.publicId,
      projectId: payments.id,
      projectName: 'payments',
    });
    ctx.advance(1000);
    const result = revokeKey(ctx, admin, 'payments', key.publicId);
    expect(result).toMatchObject({ ok: true, value: { key: { id: key.id } } });
    expect(authenticateKey(ctx.db, plaintext)).toBeNull();
    expect(authenticateKey(ctx.db, other.plaintext)?.keyId).toBe(other.key.id);
    const row = ctx.db.sqlite.prepare('SELECT revoked_at, revoked_by FROM api_keys WHERE id = ?').get(key.id);
    expect(row).toEqual({ revoked_at: ctx.now(), revoked_by: 'UADMIN' });
  });

  it('says already_done the second time', () => {
    const { key } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(revokeKey(ctx, owner, 'payments', key.publicId).ok).toBe(true);
    const events = count('audit_events');
    expect(revokeKey(ctx, owner, 'payments', key.publicId)).toMatchObject({ ok: false, error: { code: 'already_done' } });
    expect(count('audit_events')).toBe(events);
  });

  it.each(['key_00000000', 'nope', ''])('says not_found for %j', (id) => {
    expect(revokeKey(ctx, owner, 'payments', id)).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it("does not reach another project's key", () => {
    createProjects(ctx, outsider, 'search', null);
    const search = findLiveProject(ctx.db, 'search')!;
    const { key, plaintext } = issueKey(ctx.db, ctx.now(), search, 'ci', outsider.userId);
    expect(revokeKey(ctx, owner, 'payments', key.publicId)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(authenticateKey(ctx.db, plaintext)?.keyId).toBe(key.id);
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and the key keeps working', (_label, who, code) => {
    const { key, plaintext } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(revokeKey(ctx, who, 'payments', key.publicId)).toMatchObject({ ok: false, error: { code } });
    expect(authenticateKey(ctx.db, plaintext)?.keyId).toBe(key.id);
  });

  it('holds for another process on the same database file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jamjet-keys-'));
    const file = join(dir, 'db.sqlite');
    const first = await testDb(file);
    const second = openDb(file);
    try {
      const local = { db: first, now: ctx.now, jobs: new JobQueue(first, ctx.now, createLogger('error', () => {})) };
      createProjects(local, owner, 'payments', null);
      const project = findLiveProject(first, 'payments')!;
      const { key, plaintext } = issueKey(first, ctx.now(), project, 'ci', 'UOWNER');
      expect(authenticateKey(second, plaintext)?.keyId).toBe(key.id);
      expect(revokeKey(local, owner, 'payments', key.publicId).ok).toBe(true);
      expect(authenticateKey(second, plaintext)).toBeNull();
    } finally {
      await second.close();
      await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists revoked keys too, newest first', () => {
    const a = issueKey(ctx.db, ctx.now(), payments, 'a', 'UOWNER').key;
    const b = issueKey(ctx.db, ctx.now(), payments, 'b', 'UOWNER').key;
    revokeKey(ctx, owner, 'payments', a.publicId);
    const listed = listKeys(ctx, reader, 'payments');
    expect(listed.ok && listed.value.keys.map((k) => [k.name, k.revokedAt !== null])).toEqual([
      ['b', false],
      ['a', true],
      ['default', false],
    ]);
    expect(listed.ok && listed.value.keys[0]!.id).toBe(b.id);
  });
});

describe('authenticateKey', () => {
  it.each([
    '',
    'jj_',
    'jj_123',
    'Bearer jj_0123456789abcdef0123456789abcdef',
    'jj_0123456789ABCDEF0123456789ABCDEF',
    'jj_0123456789abcdef0123456789abcde',
    'jj_0123456789abcdef0123456789abcdef0',
    'jj_0123456789abcdef0123456789abcdeg',
    'JJ_0123456789abcdef0123456789abcdef',
    'sk_0123456789abcdef0123456789abcdef',
  ])('refuses the malformed %j', (presented) => {
    expect(authenticateKey(ctx.db, presented)).toBeNull();
  });

  it('refuses a real key with whitespace or a changed case around it', () => {
    const { plaintext } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(authenticateKey(ctx.db, plaintext)).not.toBeNull();
    for (const variant of [`${plaintext}\n`, ` ${plaintext}`, plaintext.toUpperCase(), `jj_${plaintext.slice(3).toUpperCase()}`]) {
      expect(authenticateKey(ctx.db, variant)).toBeNull();
    }
  });

  it('refuses a well-formed key nobody issued', () => {
    expect(authenticateKey(ctx.db, mintKey())).toBeNull();
  });

  it('refuses the keys of a deleted project, also after its name is reused', () => {
    const { plaintext } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(authenticateKey(ctx.db, plaintext)?.projectId).toBe(payments.id);
    expect(deleteProject(ctx, owner, 'payments', 'payments').ok).toBe(true);
    expect(authenticateKey(ctx.db, plaintext)).toBeNull();

    createProjects(ctx, owner, 'payments', null);
    const reborn = findLiveProject(ctx.db, 'payments')!;
    expect(reborn.id).not.toBe(payments.id);
    expect(authenticateKey(ctx.db, plaintext)).toBeNull();
    const fresh = issueKey(ctx.db, ctx.now(), reborn, 'ci', 'UOWNER');
    expect(authenticateKey(ctx.db, fresh.plaintext)?.projectId).toBe(reborn.id);
  });
});

describe('UsageRecorder', () => {
  /** Counts writes of last_used_at, so "one write per flush" is measured, not assumed. */
  const countWrites = () => {
    ctx.db.sqlite.exec(`
      CREATE TEMP TABLE usage_writes (key_id INTEGER, at INTEGER);
      CREATE TEMP TRIGGER count_usage_writes AFTER UPDATE OF last_used_at ON main.api_keys
      BEGIN INSERT INTO usage_writes VALUES (NEW.id, NEW.last_used_at); END;
    `);
    return () => ctx.db.sqlite.prepare('SELECT key_id, at FROM usage_writes ORDER BY rowid').all();
  };

  it('keeps uses in memory and writes the latest once per flush', () => {
    const { key } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const other = issueKey(ctx.db, ctx.now(), payments, 'other', 'UOWNER').key;
    const writes = countWrites();
    const usage = new UsageRecorder(ctx.db);
    const start = ctx.now();
    for (let i = 1; i <= 50; i++) usage.record(key.id, start + i * 1000);
    usage.record(other.id, start + 7);
    expect(lastUsed(key.id)).toBeNull();
    expect(writes()).toEqual([]);

    usage.flush();
    expect(lastUsed(key.id)).toBe(start + 50_000);
    expect(lastUsed(other.id)).toBe(start + 7);
    expect(writes()).toEqual([
      { key_id: key.id, at: start + 50_000 },
      { key_id: other.id, at: start + 7 },
    ]);

    usage.flush();
    expect(writes()).toHaveLength(2);
  });

  it('never moves last use backwards, e.g. when another process wrote a later one', () => {
    const { key } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const start = ctx.now();
    const thisProcess = new UsageRecorder(ctx.db);
    const otherProcess = new UsageRecorder(ctx.db);
    otherProcess.record(key.id, start + 60_000);
    otherProcess.flush();
    thisProcess.record(key.id, start + 10_000);
    thisProcess.flush();
    expect(lastUsed(key.id)).toBe(start + 60_000);
    thisProcess.record(key.id, start + 90_000);
    thisProcess.flush();
    expect(lastUsed(key.id)).toBe(start + 90_000);
  });

  it('is not shown in key metadata until flushed', () => {
    const { key } = issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const usage = new UsageRecorder(ctx.db);
    usage.record(key.id, ctx.now() + 5);
    const before = listKeys(ctx, owner, 'payments');
    expect(before.ok && before.value.keys.find((k) => k.id === key.id)?.lastUsedAt).toBeNull();
    usage.flush();
    const after = listKeys(ctx, owner, 'payments');
    expect(after.ok && after.value.keys.find((k) => k.id === key.id)?.lastUsedAt).toBe(ctx.now() + 5);
  });
});
