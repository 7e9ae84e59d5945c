import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBrokenLink, latestEvents } from '../../src/services/audit.ts';
import {
  checkCanDelete,
  createProjects,
  deleteProject,
  listProjects,
  projectInfo,
  setApprovalsChannel,
  setApprovalTimeout,
} from '../../src/services/projects.ts';
import { addMember, changeRole, rolesOf } from '../../src/services/members.ts';
import { reminderRecipients } from '../../src/services/rotation-endings.ts';
import { startRotation } from '../../src/services/rotations.ts';
import { testContext, user } from '../helpers/db.ts';

const alice = user('UALICE');
const bob = user('UBOB');
const admin = user('UADMIN', true);

let ctx: Awaited<ReturnType<typeof testContext>>;
beforeEach(async () => {
  ctx = await testContext();
});
afterEach(async () => {
  await ctx.db.close();
});

const count = async (table: 'projects' | 'memberships' | 'audit_events') =>
  ((await ctx.db.raw(`SELECT count(*) AS n FROM ${table}`))[0] as { n: number }).n;

describe('projects', () => {
  it('makes the creator Owner and records the event', async () => {
    const result = await createProjects(ctx, alice, 'payments', null);
    expect(result.ok).toBe(true);
    const info = await projectInfo(ctx, alice, 'payments');
    expect(info.ok && info.value.owners).toEqual(['UALICE']);
    const events = await latestEvents(ctx, info.ok ? info.value.project.id : 0, 10);
    expect(events.map((e) => e.action)).toEqual(['key.created', 'project.created']);
    expect(events.every((e) => e.actor === 'UALICE')).toBe(true);
  });

  it('creates one project per environment in one transaction', async () => {
    const result = await createProjects(ctx, alice, 'shop', ['dev', 'staging', 'prod']);
    expect(result.ok && result.value.map((p) => p.project.name)).toEqual(['shop-dev', 'shop-staging', 'shop-prod']);
    expect(result.ok && result.value.map((p) => p.project.environment)).toEqual(['dev', 'staging', 'prod']);
  });

  it('creates none of the environments when one name is taken', async () => {
    await createProjects(ctx, bob, 'shop-staging', null);
    const before = await Promise.all([count('projects'), count('memberships'), count('audit_events')]);
    const result = await createProjects(ctx, alice, 'shop', ['dev', 'staging', 'prod']);
    expect(result).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(!result.ok && result.error.message).toContain('`shop-staging`');
    expect(await Promise.all([count('projects'), count('memberships'), count('audit_events')])).toEqual(before);
  });

  it.each(['A', 'Payments', '-lead', 'a', 'has space', 'x'.repeat(64), 'emoji✨'])('refuses the name %j', async (name) => {
    const result = await createProjects(ctx, alice, name, null);
    expect(result).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect(await count('projects')).toBe(0);
  });

  it('refuses a duplicate name and changes nothing', async () => {
    await createProjects(ctx, alice, 'payments', null);
    const result = await createProjects(ctx, bob, 'payments', null);
    expect(result).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await count('projects')).toBe(1);
    expect(await count('memberships')).toBe(1);
  });

  it('lists only projects you belong to; workspace admins see all', async () => {
    await createProjects(ctx, alice, 'payments', null);
    await createProjects(ctx, bob, 'search', null);
    expect((await listProjects(ctx, alice)).map((p) => p.project.name)).toEqual(['payments']);
    expect((await listProjects(ctx, bob)).map((p) => p.project.name)).toEqual(['search']);
    expect((await listProjects(ctx, admin)).map((p) => [p.project.name, p.role])).toEqual([
      ['payments', null],
      ['search', null],
    ]);
  });

  it('tells a non-member only that they have no access', async () => {
    await createProjects(ctx, alice, 'payments', null);
    const existing = await projectInfo(ctx, bob, 'payments');
    const missing = await projectInfo(ctx, bob, 'nothing-here');
    expect(existing).toMatchObject({ ok: false, error: { code: 'no_access' } });
    expect(!existing.ok && !missing.ok && existing.error.message.replace('payments', 'X')).toBe(
      !missing.ok && missing.error.message.replace('nothing-here', 'X'),
    );
  });

  it('lets only the Owner delete, softly, and frees the name', async () => {
    await createProjects(ctx, alice, 'payments', null);
    await addMember(ctx, alice, 'payments', 'UBOB', 'admin');
    expect(await checkCanDelete(ctx, bob, 'payments')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await deleteProject(ctx, bob, 'payments', 'payments')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await deleteProject(ctx, alice, 'payments', 'paymnets')).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect(await listProjects(ctx, alice)).toHaveLength(1);

    expect((await deleteProject(ctx, alice, 'payments', 'payments')).ok).toBe(true);
    expect(await listProjects(ctx, alice)).toHaveLength(0);
    expect(await count('projects')).toBe(1);
    const events = await ctx.db.raw('SELECT action FROM audit_events ORDER BY id') as { action: string }[];
    expect(events.map((e) => e.action)).toContain('project.deleted');
    expect((await createProjects(ctx, bob, 'payments', null)).ok).toBe(true);
  });

  it('sets the approvals channel and timeout for Members and above, not Read-only', async () => {
    await createProjects(ctx, alice, 'payments', null);
    await addMember(ctx, alice, 'payments', 'UBOB', 'read_only');
    expect(await setApprovalsChannel(ctx, bob, 'payments', 'C123')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await setApprovalsChannel(ctx, alice, 'payments', 'C123')).toMatchObject({ ok: true, value: { approvalsChannel: 'C123' } });
    expect(await setApprovalTimeout(ctx, alice, 'payments', 7200)).toMatchObject({ ok: true, value: { approvalTimeoutSeconds: 7200 } });
    expect(await setApprovalTimeout(ctx, alice, 'payments', 5)).toMatchObject({ ok: false, error: { code: 'bad_input' } });
    expect(await findBrokenLink(ctx.db)).toBeNull();
  });

  it('names Owners who joined in the same millisecond in the order they joined, on either engine, also after a role change', async () => {
    await createProjects(ctx, alice, 'payments', null);
    // Same clock for all: only the order they were added tells them apart (not their ids, not the table's physical order).
    for (const id of ['UZED', 'UBOB', 'UMAX']) await addMember(ctx, alice, 'payments', id, 'owner');
    expect((await changeRole(ctx, alice, 'payments', 'UZED', 'admin')).ok).toBe(true);
    expect((await changeRole(ctx, alice, 'payments', 'UZED', 'owner')).ok).toBe(true);
    const info = await projectInfo(ctx, alice, 'payments');
    expect(info.ok && info.value.owners).toEqual(['UALICE', 'UZED', 'UBOB', 'UMAX']);

    const started = await startRotation(ctx, alice, 'payments', null, 3600, false);
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    expect(await reminderRecipients(ctx.db, started.value.rotation)).toEqual(['UALICE', 'UZED', 'UBOB', 'UMAX']);
  });

  it('lists projects in byte order on either engine, whatever collation the database was made with', async () => {
    if (ctx.db.engine === 'postgres') {
      // A collation that skips punctuation, as glibc's en_US.UTF-8 does: it would put `ab` before `a-c`.
      await ctx.db.raw(`CREATE COLLATION skips_punctuation (provider = icu, locale = 'und-u-ka-shifted')`);
      await ctx.db.raw('ALTER TABLE projects ALTER COLUMN name TYPE text COLLATE skips_punctuation');
      expect(await ctx.db.raw("SELECT 'ab' < 'a-c' COLLATE skips_punctuation AS skipped")).toEqual([{ skipped: 1 }]);
    }
    for (const name of ['ab', 'a-c', 'a9', 'a-b-c']) await createProjects(ctx, alice, name, null);
    const inByteOrder = ['a-b-c', 'a-c', 'a9', 'ab'];
    expect((await listProjects(ctx, alice)).map((p) => p.project.name)).toEqual(inByteOrder);
    expect((await listProjects(ctx, admin)).map((p) => p.project.name)).toEqual(inByteOrder);
    expect((await rolesOf(ctx, alice.userId)).map((r) => r.project)).toEqual(inByteOrder);
  });
});
