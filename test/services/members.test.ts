import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  addMember,
  addPendingInvite,
  changeRole,
  claimInvites,
  listMembers,
  removeMember,
  rolesOf,
} from '../../src/services/members.ts';
import { createProjects } from '../../src/services/projects.ts';
import { testContext, user } from '../helpers/db.ts';

const owner = user('UOWNER');
const adminMember = user('UADMINM');
const member = user('UMEMBER');
const reader = user('UREADER');
const outsider = user('UOUTSIDE');
const workspaceAdmin = user('URESCUE', true);

let ctx: Awaited<ReturnType<typeof testContext>>;
const snapshot = async () =>
  await ctx.db.raw('SELECT project_id, user_id, role FROM memberships ORDER BY user_id');

beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, owner, 'payments', null);
  await addMember(ctx, owner, 'payments', adminMember.userId, 'admin');
  await addMember(ctx, owner, 'payments', member.userId, 'member');
  await addMember(ctx, owner, 'payments', reader.userId, 'read_only');
});
afterEach(async () => {
  await ctx.db.close();
});

describe('members', () => {
  it('lists members to every role and to nobody else', async () => {
    for (const who of [owner, adminMember, member, reader]) {
      const result = await listMembers(ctx, who, 'payments');
      expect(result.ok && result.value.members.map((m) => m.userId)).toEqual(['UOWNER', 'UADMINM', 'UMEMBER', 'UREADER']);
    }
    expect(await listMembers(ctx, outsider, 'payments')).toMatchObject({ ok: false, error: { code: 'no_access' } });
  });

  it('lets Owners and Admins invite, not Members or Read-only', async () => {
    expect((await addMember(ctx, adminMember, 'payments', 'UNEW1', 'member')).ok).toBe(true);
    for (const who of [member, reader]) {
      const before = await snapshot();
      expect(await addMember(ctx, who, 'payments', 'UNEW2', 'member')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect(await snapshot()).toEqual(before);
    }
    expect(await addMember(ctx, outsider, 'payments', 'UNEW2', 'member')).toMatchObject({ ok: false, error: { code: 'no_access' } });
  });

  it('refuses an Admin granting or taking away Owner', async () => {
    const before = await snapshot();
    const grant = await addMember(ctx, adminMember, 'payments', 'UNEW', 'owner');
    expect(grant).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(!grant.ok && grant.error.message).toContain('Owner');
    expect(await changeRole(ctx, adminMember, 'payments', member.userId, 'owner')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await changeRole(ctx, adminMember, 'payments', owner.userId, 'member')).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await removeMember(ctx, adminMember, 'payments', owner.userId)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(await snapshot()).toEqual(before);
  });

  it('never leaves a project without an Owner', async () => {
    const before = await snapshot();
    expect(await removeMember(ctx, owner, 'payments', owner.userId)).toMatchObject({ ok: false, error: { code: 'last_owner' } });
    expect(await changeRole(ctx, owner, 'payments', owner.userId, 'admin')).toMatchObject({ ok: false, error: { code: 'last_owner' } });
    expect(await snapshot()).toEqual(before);

    expect((await changeRole(ctx, owner, 'payments', adminMember.userId, 'owner')).ok).toBe(true);
    expect((await changeRole(ctx, adminMember, 'payments', owner.userId, 'admin')).ok).toBe(true);
    expect(await removeMember(ctx, adminMember, 'payments', adminMember.userId)).toMatchObject({ ok: false, error: { code: 'last_owner' } });
  });

  it('lets a workspace admin recover a project as Owner', async () => {
    expect((await changeRole(ctx, workspaceAdmin, 'payments', member.userId, 'owner')).ok).toBe(true);
    expect((await removeMember(ctx, workspaceAdmin, 'payments', owner.userId)).ok).toBe(true);
  });

  it('refuses to add someone twice or change a role to itself', async () => {
    expect(await addMember(ctx, owner, 'payments', member.userId, 'admin')).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await changeRole(ctx, owner, 'payments', member.userId, 'member')).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(await changeRole(ctx, owner, 'payments', 'UNOBODY', 'member')).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('keeps e-mail invitations until the person first shows up', async () => {
    const pending = async () => ((await ctx.db.raw('SELECT count(*) AS n FROM pending_invites'))[0] as { n: number }).n;
    expect(await pending()).toBe(0);
    expect((await addPendingInvite(ctx, owner, 'payments', 'New.Person@Example.com', 'member')).ok).toBe(true);
    expect(await addPendingInvite(ctx, owner, 'payments', 'new.person@example.com', 'admin')).toMatchObject({
      ok: false,
      error: { code: 'conflict' },
    });
    expect(await pending()).toBe(1);
    const listed = await listMembers(ctx, owner, 'payments');
    expect(listed.ok && listed.value.invites.map((i) => i.email)).toEqual(['new.person@example.com']);

    expect(await claimInvites(ctx, 'UNEWBIE', 'NEW.PERSON@example.com')).toEqual([{ project: 'payments', role: 'member' }]);
    expect(await rolesOf(ctx, 'UNEWBIE')).toMatchObject([{ project: 'payments', role: 'member' }]);
    expect(await pending()).toBe(0);
    expect(await claimInvites(ctx, 'UNEWBIE', 'new.person@example.com')).toEqual([]);
  });

  it('lets an e-mail invitation lapse after 30 days, and be made again', async () => {
    expect((await addPendingInvite(ctx, owner, 'payments', 'late@example.com', 'member')).ok).toBe(true);
    ctx.advance(30 * 24 * 60 * 60_000);
    expect(await claimInvites(ctx, 'ULATE', 'late@example.com')).toEqual([]);
    const listed = await listMembers(ctx, owner, 'payments');
    expect(listed.ok && listed.value.invites).toEqual([]);
    expect((await addPendingInvite(ctx, owner, 'payments', 'late@example.com', 'admin')).ok).toBe(true);
    expect(await claimInvites(ctx, 'ULATE', 'late@example.com')).toEqual([{ project: 'payments', role: 'admin' }]);
  });

  it('records every change in the audit trail', async () => {
    await changeRole(ctx, owner, 'payments', member.userId, 'admin');
    await removeMember(ctx, owner, 'payments', reader.userId);
    const actions = (await ctx.db.raw('SELECT action FROM audit_events ORDER BY id') as { action: string }[]).map(
      (e) => e.action,
    );
    expect(actions).toEqual([
      'project.created',
      'key.created',
      'member.added',
      'member.added',
      'member.added',
      'member.role_changed',
      'member.removed',
    ]);
  });
});
