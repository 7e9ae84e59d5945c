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
import { authenticateKey, USAGE_QUIET_MS, UsageRecorder } from '../../src/services/key-auth.ts';
import { activeKeys, createKey, issueKey, listKeys, revokeKey } from '../../src/services/keys.ts';
import { addMember } from '../../src/services/members.ts';
import { createProjects, deleteProject } from '../../src/services/projects.ts';
import { sqliteOf, testContext, testSqliteDb, user } from '../helpers/db.ts';
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

const count = async (table: string) => ((await ctx.db.raw(`SELECT count(*) AS n FROM ${table}`))[0] as { n: number }).n;
const snapshot = async () => await Promise.all(['api_keys', 'key_deliveries', 'jobs', 'audit_events'].map(count));
const lastUsed = async (keyId: number) =>
  ((await ctx.db.raw('SELECT last_used_at FROM api_keys WHERE id = ?', [keyId]))[0] as { last_used_at: number | null }).last_used_at;

beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, owner, 'payments', null);
  await addMember(ctx, owner, 'payments', admin.userId, 'admin');
  await addMember(ctx, owner, 'payments', member.userId, 'member');
  await addMember(ctx, owner, 'payments', reader.userId, 'read_only');
  payments = (await findLiveProject(ctx.db, 'payments'))!;
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

  it('stores only the SHA-256 and a display form', async () => {
    const { key, plaintext } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const row = (await ctx.db.raw('SELECT * FROM api_keys WHERE id = ?', [key.id]))[0] as Record<string, unknown>;
    expect(row.hash).toBe(sha256(plaintext));
    for (const [column, value] of Object.entries(row)) {
      if (typeof value === 'string') expect(value, column).not.toContain(plaintext.slice(3));
    }
    expect(await findPlaintext(ctx.db, plaintext)).toEqual([]);
  });

  it('shows a key as jj_ + 4 hex … last 4 hex', async () => {
    const { key, plaintext } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(key.display).toMatch(/^jj_[0-9a-f]{4}…[0-9a-f]{4}$/);
    expect(key.display).toBe(`jj_${plaintext.slice(3, 7)}…${plaintext.slice(-4)}`);
  });

  it('gives every project created, one per environment, exactly one active key', async () => {
    const created = await createProjects(ctx, owner, 'shop', ['dev', 'prod']);
    expect(created.ok).toBe(true);
    if (!created.ok) return;
    expect(created.value).toHaveLength(2);
    for (const { project, key } of created.value) {
      expect((await activeKeys(ctx.db, project.id)).map((k) => k.id)).toEqual([key.id]);
      expect(key.name).toBe('default');
    }
    expect(await activeKeys(ctx.db, payments.id)).toHaveLength(1);
  });
});

describe('createKey', () => {
  it.each([
    ['owner', owner],
    ['admin', admin],
    ['workspace admin', rescuer],
  ])('lets the %s create a key', async (_label, who) => {
    const result = await createKey(ctx, who, 'payments', 'ci');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.key).toMatchObject({ projectId: payments.id, name: 'ci', createdBy: who.userId, revokedAt: null });
    expect(await activeKeys(ctx.db, payments.id)).toHaveLength(2);
    const delivery = (await ctx.db.raw('SELECT key_id, user_id FROM key_deliveries WHERE id = ?', [result.value.ticket.deliveryId]))[0];
    expect(delivery).toEqual({ key_id: result.value.key.id, user_id: who.userId });
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and changes nothing', async (_label, who, code) => {
    const before = await snapshot();
    const result = await createKey(ctx, who, 'payments', 'ci');
    expect(result).toMatchObject({ ok: false, error: { code } });
    expect(await snapshot()).toEqual(before);
  });

  it('tells an outsider nothing about whether the project exists', async () => {
    const real = await createKey(ctx, outsider, 'payments', 'ci');
    const missing = await createKey(ctx, outsider, 'nothing-here', 'ci');
    expect(!real.ok && real.error.message.replace('payments', 'X')).toBe(!missing.ok && missing.error.message.replace('nothing-here', 'X'));
  });

  it('stops at 20 active keys', async () => {
    for (let i = 0; i < 19; i++) expect((await createKey(ctx, owner, 'payments', `k${i}`)).ok).toBe(true);
    const before = await snapshot();
    expect(await createKey(ctx, owner, 'payments', 'one-too-many')).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await snapshot()).toEqual(before);
  });
});

describe('revokeKey', () => {
  it('refuses the key from the very next check', async () => {
    const { key, plaintext } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const other = await issueKey(ctx.db, ctx.now(), payments, 'other', 'UOWNER');
    expect(await authenticateKey(ctx.db, plaintext)).toEqual({
      keyId: key.id,
      publicId: key.publicId,
      projectId: payments.id,
      projectName: 'payments',
    });
    ctx.advance(1000);
    const result = await revokeKey(ctx, admin, 'payments', key.publicId);
    expect(result).toMatchObject({ ok: true, value: { key: { id: key.id } } });
    expect(await authenticateKey(ctx.db, plaintext)).toBeNull();
    expect((await authenticateKey(ctx.db, other.plaintext))?.keyId).toBe(other.key.id);
    const row = (await ctx.db.raw('SELECT revoked_at, revoked_by FROM api_keys WHERE id = ?', [key.id]))[0];
    expect(row).toEqual({ revoked_at: ctx.now(), revoked_by: 'UADMIN' });
  });

  it('says already_done the second time', async () => {
    const { key } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect((await revokeKey(ctx, owner, 'payments', key.publicId)).ok).toBe(true);
    const events = await count('audit_events');
    expect(await revokeKey(ctx, owner, 'payments', key.publicId)).toMatchObject({ ok: false, error: { code: 'already_done' } });
    expect(await count('audit_events')).toBe(events);
  });

  it.each(['key_00000000', 'nope', ''])('says not_found for %j', async (id) => {
    expect(await revokeKey(ctx, owner, 'payments', id)).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it("does not reach another project's key", async () => {
    await createProjects(ctx, outsider, 'search', null);
    const search = (await findLiveProject(ctx.db, 'search'))!;
    const { key, plaintext } = await issueKey(ctx.db, ctx.now(), search, 'ci', outsider.userId);
    expect(await revokeKey(ctx, owner, 'payments', key.publicId)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect((await authenticateKey(ctx.db, plaintext))?.keyId).toBe(key.id);
  });

  it.each([
    ['member', member, 'forbidden'],
    ['read-only', reader, 'forbidden'],
    ['outsider', outsider, 'no_access'],
  ])('refuses the %s and the key keeps working', async (_label, who, code) => {
    const { key, plaintext } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(await revokeKey(ctx, who, 'payments', key.publicId)).toMatchObject({ ok: false, error: { code } });
    expect((await authenticateKey(ctx.db, plaintext))?.keyId).toBe(key.id);
  });

  it('holds for another process on the same database file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jamjet-keys-'));
    const file = join(dir, 'db.sqlite');
    const first = await testSqliteDb(file);
    const second = openDb(file);
    try {
      const local = { db: first, now: ctx.now, jobs: new JobQueue(first, ctx.now, createLogger('error', () => {})) };
      await createProjects(local, owner, 'payments', null);
      const project = (await findLiveProject(first, 'payments'))!;
      const { key, plaintext } = await issueKey(first, ctx.now(), project, 'ci', 'UOWNER');
      expect((await authenticateKey(second, plaintext))?.keyId).toBe(key.id);
      expect((await revokeKey(local, owner, 'payments', key.publicId)).ok).toBe(true);
      expect(await authenticateKey(second, plaintext)).toBeNull();
    } finally {
      await second.close();
      await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('lists revoked keys too, newest first', async () => {
    const a = (await issueKey(ctx.db, ctx.now(), payments, 'a', 'UOWNER')).key;
    const b = (await issueKey(ctx.db, ctx.now(), payments, 'b', 'UOWNER')).key;
    await revokeKey(ctx, owner, 'payments', a.publicId);
    const listed = await listKeys(ctx, reader, 'payments');
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
  ])('refuses the malformed %j', async (presented) => {
    expect(await authenticateKey(ctx.db, presented)).toBeNull();
  });

  it('refuses a real key with whitespace or a changed case around it', async () => {
    const { plaintext } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect(await authenticateKey(ctx.db, plaintext)).not.toBeNull();
    for (const variant of [`${plaintext}\n`, ` ${plaintext}`, plaintext.toUpperCase(), `jj_${plaintext.slice(3).toUpperCase()}`]) {
      expect(await authenticateKey(ctx.db, variant)).toBeNull();
    }
  });

  it('refuses a well-formed key nobody issued', async () => {
    expect(await authenticateKey(ctx.db, mintKey())).toBeNull();
  });

  it('refuses the keys of a deleted project, also after its name is reused', async () => {
    const { plaintext } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    expect((await authenticateKey(ctx.db, plaintext))?.projectId).toBe(payments.id);
    expect((await deleteProject(ctx, owner, 'payments', 'payments')).ok).toBe(true);
    expect(await authenticateKey(ctx.db, plaintext)).toBeNull();

    await createProjects(ctx, owner, 'payments', null);
    const reborn = (await findLiveProject(ctx.db, 'payments'))!;
    expect(reborn.id).not.toBe(payments.id);
    expect(await authenticateKey(ctx.db, plaintext)).toBeNull();
    const fresh = await issueKey(ctx.db, ctx.now(), reborn, 'ci', 'UOWNER');
    expect((await authenticateKey(ctx.db, fresh.plaintext))?.projectId).toBe(reborn.id);
  });
});

describe('UsageRecorder', () => {
  /** Counts writes of last_used_at, so "one write per flush" is measured, not assumed. */
  const countWrites = async () => {
    if (ctx.db.engine === 'postgres') {
      await ctx.db.raw('CREATE TABLE usage_writes (seq bigserial PRIMARY KEY, key_id bigint, at bigint)');
      await ctx.db.raw(`CREATE FUNCTION count_usage_writes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO usage_writes (key_id, at) VALUES (NEW.id, NEW.last_used_at); RETURN NULL; END $$`);
      await ctx.db.raw('CREATE TRIGGER count_usage_writes AFTER UPDATE OF last_used_at ON api_keys FOR EACH ROW EXECUTE FUNCTION count_usage_writes()');
      return async () => await ctx.db.raw('SELECT key_id, at FROM usage_writes ORDER BY seq');
    }
    sqliteOf(ctx.db).exec(`
      CREATE TEMP TABLE usage_writes (key_id INTEGER, at INTEGER);
      CREATE TEMP TRIGGER count_usage_writes AFTER UPDATE OF last_used_at ON main.api_keys
      BEGIN INSERT INTO usage_writes VALUES (NEW.id, NEW.last_used_at); END;
    `);
    return async () => await ctx.db.raw('SELECT key_id, at FROM usage_writes ORDER BY rowid');
  };

  it('keeps uses in memory and writes the latest once per flush', async () => {
    const { key } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const other = (await issueKey(ctx.db, ctx.now(), payments, 'other', 'UOWNER')).key;
    const writes = await countWrites();
    const usage = new UsageRecorder(ctx.db);
    const start = ctx.now();
    // Each key's first use after a quiet minute is written at once; those that follow wait for the flush.
    usage.record(key.id, start + 1000);
    usage.record(other.id, start + 7);
    await usage.idle();
    expect(await writes()).toEqual([
      { key_id: key.id, at: start + 1000 },
      { key_id: other.id, at: start + 7 },
    ]);
    for (let i = 2; i <= 50; i++) usage.record(key.id, start + i * 1000);
    usage.record(other.id, start + 8);
    await usage.idle();
    expect(await lastUsed(key.id)).toBe(start + 1000);
    expect(await writes()).toHaveLength(2);

    await usage.flush();
    expect(await lastUsed(key.id)).toBe(start + 50_000);
    expect(await lastUsed(other.id)).toBe(start + 8);
    expect(await writes()).toEqual([
      { key_id: key.id, at: start + 1000 },
      { key_id: other.id, at: start + 7 },
      { key_id: key.id, at: start + 50_000 },
      { key_id: other.id, at: start + 8 },
    ]);

    await usage.flush();
    expect(await writes()).toHaveLength(4);
    // A minute later without a use, the next one is written at once again.
    usage.record(key.id, start + 1000 + USAGE_QUIET_MS);
    await usage.idle();
    expect(await lastUsed(key.id)).toBe(start + 1000 + USAGE_QUIET_MS);
  });

  it('writes a key used after a quiet minute at once, so another process asking "used lately?" sees it', async () => {
    const { key } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const replica = new UsageRecorder(ctx.db);
    replica.record(key.id, ctx.now() + 3);
    await replica.idle();
    const listed = await listKeys(ctx, owner, 'payments');
    expect(listed.ok && listed.value.keys.find((k) => k.id === key.id)?.lastUsedAt).toBe(ctx.now() + 3);
  });

  it('never moves last use backwards, e.g. when another process wrote a later one', async () => {
    const { key } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const start = ctx.now();
    const thisProcess = new UsageRecorder(ctx.db);
    const otherProcess = new UsageRecorder(ctx.db);
    otherProcess.record(key.id, start + 60_000);
    await otherProcess.flush();
    thisProcess.record(key.id, start + 10_000);
    await thisProcess.flush();
    expect(await lastUsed(key.id)).toBe(start + 60_000);
    thisProcess.record(key.id, start + 90_000);
    await thisProcess.flush();
    expect(await lastUsed(key.id)).toBe(start + 90_000);
  });

  it('shows the uses that follow the first of a minute only once flushed', async () => {
    const { key } = await issueKey(ctx.db, ctx.now(), payments, 'ci', 'UOWNER');
    const usage = new UsageRecorder(ctx.db);
    usage.record(key.id, ctx.now() + 5);
    await usage.idle();
    usage.record(key.id, ctx.now() + 6);
    const before = await listKeys(ctx, owner, 'payments');
    expect(before.ok && before.value.keys.find((k) => k.id === key.id)?.lastUsedAt).toBe(ctx.now() + 5);
    await usage.flush();
    const after = await listKeys(ctx, owner, 'payments');
    expect(after.ok && after.value.keys.find((k) => k.id === key.id)?.lastUsedAt).toBe(ctx.now() + 6);
  });
});
