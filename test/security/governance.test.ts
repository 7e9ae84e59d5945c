/**
 * Attacks on policy rules and the decisions SDKs report (issue 12): what a
 * hostile agent writes (tool names) combined with what a person types
 * (filters), and what rules look like in Slack.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLiveProject } from '../../src/services/access.ts';
import { authenticateKey, type KeyIdentity } from '../../src/services/key-auth.ts';
import { issueKey } from '../../src/services/keys.ts';
import { latestPolicyEvents, recordPolicyEvents, type PolicyEventInput } from '../../src/services/policy-events.ts';
import { createProjects } from '../../src/services/projects.ts';
import { testContext, user } from '../helpers/db.ts';

const owner = user('UOWNER');
let ctx: Awaited<ReturnType<typeof testContext>>;
let key: KeyIdentity;

const event = (over: Partial<PolicyEventInput> = {}): PolicyEventInput => ({
  ts: '2026-11-28T09:00:00.000Z',
  runId: 'run-1',
  adapter: 'ts-sdk',
  host: 'typescript',
  tool: 'deploy-prod',
  decision: 'BLOCKED',
  executed: false,
  schemaVersion: 1,
  rule: null,
  ruleKind: null,
  traceId: null,
  decisionId: null,
  server: null,
  policyVersion: '1',
  args: null,
  ...over,
});

beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, owner, 'payments', null);
  const project = (await findLiveProject(ctx.db, 'payments'))!;
  const issued = await issueKey(ctx.db, ctx.now(), project, 'ci', owner.userId);
  key = (await authenticateKey(ctx.db, issued.plaintext))!;
});
afterEach(async () => {
  await ctx.db.close();
});

describe('the events tool filter against agent-written tool names', () => {
  it('answers at once for a many-star glob that fails to match long tool names (no backtracking blow-up)', async () => {
    // An agent reports tools named like the glob but for the last letter's case: SQLite's LIKE lets them
    // through to the exact comparison, which must not backtrack over every way to place the stars.
    await recordPolicyEvents(ctx, key, [event({ tool: `${'a'.repeat(40)}B` }), event({ tool: `${'a'.repeat(40)}b` })]);
    const glob = `${'*a'.repeat(10)}*b`;
    const started = Date.now();
    const { events, total } = await latestPolicyEvents(ctx, key.projectId, { tool: glob }, 20);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(events.map((e) => e.tool)).toEqual([`${'a'.repeat(40)}b`]);
    expect(total).toBe(1);
  });

  it('still reads `*` across dots and newlines and `?` as one character, case-sensitively', async () => {
    await recordPolicyEvents(ctx, key, [event({ tool: 'db.query' }), event({ tool: 'DB.QUERY' }), event({ tool: 'db\nx' }), event({ tool: 'db.😀' })]);
    const tools = async (tool: string) => (await latestPolicyEvents(ctx, key.projectId, { tool }, 20)).events.map((e) => e.tool).sort();
    expect(await tools('db*')).toEqual(['db\nx', 'db.query', 'db.😀'].sort());
    expect(await tools('db.?')).toEqual(['db.😀']);
    expect(await tools('DB*')).toEqual(['DB.QUERY']);
  });

  it('without a tool filter pages in SQL and still counts every match', async () => {
    await recordPolicyEvents(ctx, key, Array.from({ length: 30 }, (_, i) => event({ tool: `t${i}`, decision: i % 3 === 0 ? 'ALLOWED' : 'BLOCKED' })));
    const all = await latestPolicyEvents(ctx, key.projectId, {}, 5);
    expect(all.total).toBe(30);
    expect(all.events.map((e) => e.tool)).toEqual(['t29', 't28', 't27', 't26', 't25']);
    const allowed = await latestPolicyEvents(ctx, key.projectId, { decision: 'ALLOWED' }, 3);
    expect(allowed.total).toBe(10);
    expect(allowed.events.map((e) => e.tool)).toEqual(['t27', 't24', 't21']);
  });
});
