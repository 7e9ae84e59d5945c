import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits.ts';
import { PostgresDb } from '../../src/db/postgres.ts';
import { findLiveProject } from '../../src/services/access.ts';
import { authenticateKey, type KeyIdentity } from '../../src/services/key-auth.ts';
import { issueKey } from '../../src/services/keys.ts';
import {
  globToLike,
  latestPolicyEvents,
  markAnnounced,
  POLICY_ANNOUNCE_JOB,
  recordPolicyEvents,
  takeAnnouncement,
  type PolicyEventInput,
} from '../../src/services/policy-events.ts';
import { createProjects, deleteProject } from '../../src/services/projects.ts';
import { testContext, user } from '../helpers/db.ts';
import { decisionInput } from '../helpers/sdk-client.ts';

const owner = user('UOWNER');
let ctx: Awaited<ReturnType<typeof testContext>>;
let key: KeyIdentity;
let plaintext: string;

const event = (over: Partial<PolicyEventInput> = {}): PolicyEventInput => decisionInput({ decision: 'ALLOWED', executed: true, ...over });

const pendingJobs = async () =>
  (await ctx.db.raw<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE kind = ? AND status = 'pending'", [POLICY_ANNOUNCE_JOB]))[0]!.n;
/** Lets this process hear the notices of its writes so far (a round trip on PostgreSQL's listening connection; nothing on SQLite). */
const settle = async () => {
  if (ctx.db instanceof PostgresDb) await ctx.db.settled();
};

beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, owner, 'payments', null);
  const project = (await findLiveProject(ctx.db, 'payments'))!;
  const issued = await issueKey(ctx.db, ctx.now(), project, 'ci', owner.userId);
  plaintext = issued.plaintext;
  key = (await authenticateKey(ctx.db, plaintext))!;
});
afterEach(async () => {
  await ctx.db.close();
});

describe('a push leaves the process caches as they were', () => {
  it('keeps the cached key check (and everything cached) across pushes of any decision', async () => {
    await ctx.db.run(ctx.db.q.updateTable('projects').set({ approvals_channel: 'C0APPROVALS' }).where('id', '=', key.projectId));
    await settle();
    let computed = 0;
    const probe = () => ctx.db.cached('probe', async () => ++computed);
    expect(await probe()).toBe(1);
    // The first blocked decision of a burst schedules its announcement (one write to jobs): do that before measuring.
    await recordPolicyEvents(ctx, key, [event({ decision: 'BLOCKED' })]);
    await settle();
    expect(await probe()).toBe(2);
    for (let i = 0; i < 5; i++) {
      await recordPolicyEvents(ctx, key, [event(), event({ decision: 'BLOCKED' }), event({ decision: 'BUDGET_EXCEEDED' })]);
    }
    await settle();
    expect(await probe()).toBe(2);
    expect(await authenticateKey(ctx.db, plaintext)).toEqual(key);
    expect(await pendingJobs()).toBe(1);
    // The same probe does see a write to a cached table: the check above can fail.
    await ctx.db.run(ctx.db.q.updateTable('projects').set({ approval_timeout_seconds: 60 }).where('id', '=', key.projectId));
    await settle();
    expect(await probe()).toBe(3);
  });
});

describe('keeping decisions', () => {
  it('keeps them with the key and its project; without an approvals channel nothing is to be announced', async () => {
    expect(await recordPolicyEvents(ctx, key, [event({ decision: 'BLOCKED', rule: 'deploy-*', ruleKind: 'block' }), event()])).toEqual({ accepted: 2, scheduled: false });
    const rows = await ctx.db.raw<{ project_id: number; key_id: number; announce: number; rule: string | null }>(
      'SELECT project_id, key_id, announce, rule FROM policy_events ORDER BY id',
    );
    expect(rows).toEqual([
      { project_id: key.projectId, key_id: key.keyId, announce: 0, rule: 'deploy-*' },
      { project_id: key.projectId, key_id: key.keyId, announce: 0, rule: null },
    ]);
    expect(await pendingJobs()).toBe(0);
  });

  it('keeps at most the newest LIMITS.policyEventsPerProject of a project, and none once the project is deleted', async () => {
    const batch = Array.from({ length: 100 }, () => event());
    const total = LIMITS.policyEventsPerProject + 300;
    for (let sent = 0; sent < total; sent += 100) await recordPolicyEvents(ctx, key, batch);
    const count = async () => (await ctx.db.raw<{ n: number }>('SELECT count(*) AS n FROM policy_events'))[0]!.n;
    expect(await count()).toBeLessThanOrEqual(LIMITS.policyEventsPerProject);
    expect(await count()).toBeGreaterThan(LIMITS.policyEventsPerProject - 100);
    expect((await deleteProject(ctx, owner, 'payments', 'payments')).ok).toBe(true);
    expect(await count()).toBe(0);
  }, 60_000);
});

describe('announcing', () => {
  beforeEach(async () => {
    await ctx.db.run(ctx.db.q.updateTable('projects').set({ approvals_channel: 'C0APPROVALS' }).where('id', '=', key.projectId));
  });

  it('schedules one job per burst; a job takes the burst once, and a later burst goes to a new job', async () => {
    const scheduled: boolean[] = [];
    for (let i = 0; i < 50; i++) scheduled.push((await recordPolicyEvents(ctx, key, [event({ decision: 'BLOCKED', tool: `tool-${i % 3}` })])).scheduled);
    expect(scheduled.filter(Boolean)).toHaveLength(1);
    expect(scheduled[0]).toBe(true);
    expect(await pendingJobs()).toBe(1);
    const first = await takeAnnouncement(ctx, key.projectId, 101);
    expect(first?.total).toBe(50);
    expect(first?.groups).toEqual([
      { tool: 'tool-0', decision: 'BLOCKED', count: 17 },
      { tool: 'tool-1', decision: 'BLOCKED', count: 17 },
      { tool: 'tool-2', decision: 'BLOCKED', count: 16 },
    ]);
    expect(first?.latest).toHaveLength(5);
    // Another job of the project (a second replica's) finds nothing left.
    expect(await takeAnnouncement(ctx, key.projectId, 102)).toBeNull();
    // Not yet posted: the same job takes the same decisions again on its retry, plus any that came meanwhile.
    await recordPolicyEvents(ctx, key, [event({ decision: 'BUDGET_EXCEEDED' }), event()]);
    expect((await takeAnnouncement(ctx, key.projectId, 101))?.total).toBe(51);
    await markAnnounced(ctx, key.projectId, 101);
    expect(await takeAnnouncement(ctx, key.projectId, 101)).toBeNull();
    expect(await takeAnnouncement(ctx, key.projectId, 103)).toBeNull();
  });
});

describe('listing', () => {
  it('filters by decision and by a case-sensitive tool glob, newest first', async () => {
    await recordPolicyEvents(ctx, key, [
      event({ tool: 'deploy-prod', decision: 'BLOCKED' }),
      event({ tool: 'Deploy-staging', decision: 'BLOCKED' }),
      event({ tool: 'deploy_x', decision: 'ALLOWED' }),
      event({ tool: 'read%file', decision: 'ALLOWED' }),
      event({ tool: 'deployXprod', decision: 'ALLOWED' }),
    ]);
    const tools = async (filter: { decision?: string; tool?: string }, limit = 20) =>
      (await latestPolicyEvents(ctx, key.projectId, filter, limit)).events.map((e) => e.tool);
    expect(await tools({})).toEqual(['deployXprod', 'read%file', 'deploy_x', 'Deploy-staging', 'deploy-prod']);
    expect(await tools({ decision: 'BLOCKED' })).toEqual(['Deploy-staging', 'deploy-prod']);
    expect(await tools({ tool: 'deploy*' })).toEqual(['deployXprod', 'deploy_x', 'deploy-prod']);
    expect(await tools({ tool: 'deploy_*' })).toEqual(['deploy_x']);
    expect(await tools({ tool: 'read%*' })).toEqual(['read%file']);
    expect(await tools({ tool: 'deploy?prod' })).toEqual(['deployXprod', 'deploy-prod']);
    expect(await tools({ tool: 'deploy*', decision: 'ALLOWED' }, 1)).toEqual(['deployXprod']);
    expect((await latestPolicyEvents(ctx, key.projectId, { tool: 'deploy*' }, 1)).total).toBe(3);
    expect(globToLike('a_b%c*?\\')).toBe('a\\_b\\%c%_\\\\');
  });
});
