/**
 * Kind 8, unbounded fan-out: what one command, one person or one key can
 * create is bounded, and refused past the bound with a sentence.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits.ts';
import { createApproval, cardDestinations } from '../../src/services/approvals.ts';
import type { KeyIdentity } from '../../src/services/key-auth.ts';
import { createKey } from '../../src/services/keys.ts';
import { addMember, addPendingInvite } from '../../src/services/members.ts';
import { createProjects } from '../../src/services/projects.ts';
import { startRotation } from '../../src/services/rotations.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { testContext, user } from '../helpers/db.ts';
import { FakeSlack } from '../helpers/slack.ts';
import { reveal, run } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const count = async (t: TestApp, table: string) => ((await t.app.db.raw(`SELECT count(*) AS n FROM ${table}`))[0] as { n: number }).n;

describe('projects create --envs', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await startTestApp({ slack: new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }) });
  });
  afterEach(async () => {
    await t.stop();
  });

  it('the example: 60 environments are refused with a sentence; no project, key or DM is made', async () => {
    const envs = Array.from({ length: 60 }, (_, i) => `e${i}`).join(',');
    const reply = await run(t, OWNER, `projects create app --envs ${envs}`);
    expect(reply.text).toContain('One command creates at most 10 environments; you listed 60.');
    expect(reply.text).toContain('/jamjet projects create <name> [--envs dev,staging,prod]');
    expect(await Promise.all([count(t, 'projects'), count(t, 'api_keys'), count(t, 'key_deliveries')])).toEqual([0, 0, 0]);
    expect(t.slack.callsTo('chat.postMessage')).toEqual([]);
  });

  it('11 are refused and 10 are made', async () => {
    const list = (n: number) => Array.from({ length: n }, (_, i) => `e${i}`).join(',');
    expect((await run(t, OWNER, `projects create app --envs ${list(11)}`)).text).toContain('at most 10 environments');
    expect(await count(t, 'projects')).toBe(0);
    expect((await run(t, OWNER, `projects create app --envs ${list(10)}`)).text).toContain('created');
    expect(await count(t, 'projects')).toBe(10);
  }, 60_000);
});

describe('bounds in the services', () => {
  it(`one person creates at most ${LIMITS.projectsPerPerson} projects; a workspace admin is not bounded`, async () => {
    const ctx = await testContext();
    for (let i = 0; i < LIMITS.projectsPerPerson; i++) expect((await createProjects(ctx, user('UMANY'), `p-${i}`, null)).ok).toBe(true);
    const refused = await createProjects(ctx, user('UMANY'), 'one-more', null);
    expect(refused).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(!refused.ok && refused.error.message).toContain(`at most ${LIMITS.projectsPerPerson} projects`);
    // --envs counts each environment.
    expect((await createProjects(ctx, user('UOTHER'), 'batch', ['a', 'b'])).ok).toBe(true);
    expect((await createProjects(ctx, user('UROOT', true), 'admin-made', null)).ok).toBe(true);
  });

  it(`rotations count against the ${LIMITS.activeKeysPerProject} active keys of a project; --revoke-now still works at the bound`, async () => {
    const ctx = await testContext();
    await createProjects(ctx, user('UOWNER'), 'payments', null);
    for (let i = 1; i < LIMITS.activeKeysPerProject; i++) expect((await createKey(ctx, user('UOWNER'), 'payments', `k${i}`)).ok).toBe(true);
    const keys = await ctx.db.raw('SELECT public_id FROM api_keys ORDER BY id') as { public_id: string }[];
    const refused = await startRotation(ctx, user('UOWNER'), 'payments', keys[0]!.public_id, 3600, false);
    expect(!refused.ok && refused.error.message).toContain(`already has ${LIMITS.activeKeysPerProject} active keys`);
    expect((await startRotation(ctx, user('UOWNER'), 'payments', keys[0]!.public_id, 3600, true)).ok).toBe(true);
    expect((await ctx.db.raw('SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL'))[0]).toEqual({ n: LIMITS.activeKeysPerProject });
  });

  it(`one key holds at most ${LIMITS.pendingApprovalsPerKey} pending requests, one project ${LIMITS.pendingApprovalsPerProject}; expired ones make room`, async () => {
    const ctx = await testContext();
    await createProjects(ctx, user('UOWNER'), 'payments', null);
    for (let i = 0; i < 3; i++) await createKey(ctx, user('UOWNER'), 'payments', `k${i}`);
    const keys = await ctx.db.raw('SELECT k.id AS "keyId", k.public_id AS "publicId", p.id AS "projectId", p.name AS "projectName" FROM api_keys k JOIN projects p ON p.id = k.project_id ORDER BY k.id') as KeyIdentity[];
    for (let i = 0; i < LIMITS.pendingApprovalsPerKey; i++) expect((await createApproval(ctx, keys[0]!, `a${i}`, {})).ok).toBe(true);
    const perKey = await createApproval(ctx, keys[0]!, 'one more', {});
    expect(!perKey.ok && perKey.error.message).toContain(`This API key already has ${LIMITS.pendingApprovalsPerKey} pending approval requests`);
    // Two more full keys make 300 for the project: a fourth key with none pending is refused too.
    for (const k of keys.slice(1, 3)) for (let i = 0; i < LIMITS.pendingApprovalsPerKey; i++) await createApproval(ctx, k, `b${i}`, {});
    const perProject = await createApproval(ctx, keys[3]!, 'one more', {});
    expect(!perProject.ok && perProject.error.message).toContain(`This project already has ${LIMITS.pendingApprovalsPerProject} pending approval requests`);
    // Time passes: the requests expire and make room.
    ctx.advance(2 * 3_600_000);
    expect((await createApproval(ctx, keys[0]!, 'later', {})).ok).toBe(true);
  });

  it(`a project holds at most ${LIMITS.pendingInvitesPerProject} pending e-mail invitations`, async () => {
    const ctx = await testContext();
    await createProjects(ctx, user('UOWNER'), 'payments', null);
    for (let i = 0; i < LIMITS.pendingInvitesPerProject; i++) {
      expect((await addPendingInvite(ctx, user('UOWNER'), 'payments', `p${i}@elsewhere.test`, 'member')).ok).toBe(true);
    }
    const refused = await addPendingInvite(ctx, user('UOWNER'), 'payments', 'late@elsewhere.test', 'member');
    expect(!refused.ok && refused.error.message).toContain('withdraw one with `/jamjet members remove payments <email>` first');
  });

  it(`a request is DMed to at most ${LIMITS.cardDmsPerRequest} Owners, the longest-standing first`, async () => {
    const ctx = await testContext();
    await createProjects(ctx, user('UOWNER'), 'payments', null);
    for (let i = 0; i < 30; i++) {
      ctx.advance(1000);
      await addMember(ctx, user('UOWNER'), 'payments', `UOWNER${String(i).padStart(2, '0')}`, 'owner');
    }
    const { owners } = await cardDestinations(ctx.db, 1);
    expect(owners).toHaveLength(LIMITS.cardDmsPerRequest);
    expect(owners[0]).toBe('UOWNER');
  });
});

describe('the HTTP API past the bound', () => {
  it('answers 429 too_many_pending with a sentence', async () => {
    const t = await startTestApp({ slack: new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }) });
    try {
      await run(t, OWNER, 'projects create payments');
      const key = await reveal(t, OWNER);
      // Fill the key's quota directly; the rate limiter would make this slow over HTTP.
      const identity = (await t.app.db.raw('SELECT k.id AS "keyId", k.public_id AS "publicId", p.id AS "projectId", p.name AS "projectName" FROM api_keys k JOIN projects p ON p.id = k.project_id'))[0] as unknown as KeyIdentity;
      for (let i = 0; i < LIMITS.pendingApprovalsPerKey; i++) await createApproval(t.app.services, identity, `a${i}`, {});
      const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'one more' }),
      });
      expect(res.status).toBe(429);
      expect(await res.json()).toMatchObject({ error: { code: 'too_many_pending' } });
    } finally {
      await t.stop();
    }
  });
});
