/**
 * Attacks on policy rules and the decisions SDKs report (issue 12): what a
 * hostile agent writes (tool names) combined with what a person types
 * (filters), and what rules look like in Slack.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findLiveProject } from '../../src/services/access.ts';
import { authenticateKey, type KeyIdentity } from '../../src/services/key-auth.ts';
import { issueKey } from '../../src/services/keys.ts';
import { checkPolicyEvents } from '../../src/api/policy-events.ts';
import {
  ANNOUNCE_DELAY_MS,
  ANNOUNCE_SPACING_MS,
  latestPolicyEvents,
  markAnnounced,
  POLICY_ANNOUNCE_JOB,
  recordPolicyEvents,
  takeAnnouncement,
} from '../../src/services/policy-events.ts';
import { addRule, listRules } from '../../src/services/policies.ts';
import { createProjects } from '../../src/services/projects.ts';
import { PATTERN_MAX } from '../../src/core/policies.ts';
import { LIMITS } from '../../src/core/limits.ts';
import { LIMITS as SLACK, pageOf } from '../../src/slack/limits.ts';
import { policyChangeMessage, ruleLine } from '../../src/slack/views/policies.ts';
import { testContext, user } from '../helpers/db.ts';
import { decisionInput, sdkDecision } from '../helpers/sdk-client.ts';

const owner = user('UOWNER');
let ctx: Awaited<ReturnType<typeof testContext>>;
let key: KeyIdentity;

const event = decisionInput;

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

describe('rules as Slack shows them', () => {
  it('a glob of the longest length is shown whole in the list, the replies and the announcement: rules differing late never read alike', async () => {
    const stem = 'mcp.server/'.padEnd(PATTERN_MAX - 2, 'x');
    for (const [action, tail] of [['allow', '.a'], ['block', '.*'], ['require_approval', '??']] as const) {
      const added = await addRule(ctx, owner, 'payments', action, `${stem}${tail}`);
      expect(added.ok).toBe(true);
    }
    for (let i = 0; i < 97; i++) await addRule(ctx, owner, 'payments', 'block', `${'p'.repeat(PATTERN_MAX - 4)}${String(i).padStart(4, '0')}`);
    const listed = await listRules(ctx, owner, 'payments');
    if (!listed.ok) throw new Error(listed.error.message);
    const rules = listed.value.rules;
    expect(rules).toHaveLength(100);
    const lines = rules.map(ruleLine);
    for (const [i, rule] of rules.entries()) {
      expect(lines[i]).toContain(`\`${rule.pattern}\``);
      const notice = policyChangeMessage('payments', { project: 1, actor: owner.userId, change: 'moved', rule: rule.publicId, action: rule.action, pattern: rule.pattern, position: 1, from: 2 });
      expect(notice.text).toContain(`\`${rule.pattern}\``);
    }
    // The paged list carries every rule whole, each page within an answer's size.
    let shown = '';
    for (let page = 1; ; page++) {
      const answer = pageOf({ title: '*Policy rules of `payments`*', lines, page, command: 'policies list payments' });
      if (!('text' in answer)) break;
      expect(answer.text.length).toBeLessThanOrEqual(SLACK.answer);
      shown += answer.text;
    }
    for (const rule of rules) expect(shown).toContain(`\`${rule.pattern}\``);
  });
});

describe('the rule bound under concurrency', () => {
  it('adds racing for the last free places never pass the bound, and positions stay dense', async () => {
    for (let i = 0; i < LIMITS.policyRulesPerProject - 2; i++) await addRule(ctx, owner, 'payments', 'block', `seed.${i}`);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => addRule(ctx, owner, 'payments', 'allow', `race.${i}`, 1)));
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? '' : r.error.code))).toEqual(Array(6).fill('conflict'));
    const listed = await listRules(ctx, owner, 'payments');
    if (!listed.ok) throw new Error(listed.error.message);
    expect(listed.value.rules.map((r) => r.position)).toEqual(Array.from({ length: LIMITS.policyRulesPerProject }, (_, i) => i + 1));
  });
});

describe('decisions with characters a database refuses', () => {
  it('a NUL or other control character in any text field is is kept (shown as U+FFFD), never a database error that loses the batch', async () => {
    const nul = 'deploy\u0000prod';
    const checked = checkPolicyEvents({
      events: [
        sdkDecision({
          ts: `2026-11-28T09:00:00Z${'\u0000'}`,
          run_id: 'run\u0000',
          adapter: 'ts\u0000sdk',
          host: 'h\u0000',
          tool: nul,
          decision: 'BLOCKED',
          executed: false,
          schema_version: 1,
          rule: 'deploy\u0000*',
          rule_kind: 'block\u0000',
          trace_id: '\u0000',
          decision_id: 'd\u0000',
          server: 's\u0000',
          policy_version: '1\u0000',
          args: { 'k\u0000': 'v\u0000' },
        }),
      ],
    });
    if (!checked.ok) throw new Error(checked.message);
    expect(await recordPolicyEvents(ctx, key, checked.events)).toEqual({ accepted: 1, scheduled: false });
    const [row] = (await latestPolicyEvents(ctx, key.projectId, {}, 1)).events;
    expect(row!).toMatchObject({ tool: 'deploy\ufffdprod', adapter: 'ts\ufffdsdk', rule: 'deploy\ufffd*', ruleKind: 'block\ufffd' });
    const [stored] = await ctx.db.raw<{ args: string }>('SELECT args FROM policy_events');
    expect(JSON.parse(stored!.args)).toEqual({ 'k\u0000': 'v\u0000' });
  });
});

describe('a steady stream of blocked decisions', () => {
  it('is announced at most once a minute per project, not once per burst delay', async () => {
    await ctx.db.run(ctx.db.q.updateTable('projects').set({ approvals_channel: 'C0APPROVALS' }).where('id', '=', key.projectId));
    const dueTimes = async () =>
      (await ctx.db.raw<{ id: number; run_at: number }>("SELECT id, run_at FROM jobs WHERE kind = ? AND status = 'pending' ORDER BY id", [POLICY_ANNOUNCE_JOB])).map(
        (j) => ({ id: Number(j.id), runAt: Number(j.run_at) }),
      );
    // An agent retrying a blocked tool every second for three minutes.
    const announcedAt: number[] = [];
    const start = ctx.now();
    for (let second = 0; second < 180; second++) {
      await recordPolicyEvents(ctx, key, [event({ tool: 'shell.exec' })]);
      for (const job of await dueTimes()) {
        if (job.runAt > ctx.now()) continue;
        await ctx.db.run(ctx.db.q.updateTable('jobs').set({ status: 'done' }).where('id', '=', job.id));
        if (await takeAnnouncement(ctx, key.projectId, job.id)) announcedAt.push(ctx.now());
        await markAnnounced(ctx, key.projectId, job.id);
      }
      ctx.advance(1000);
    }
    // The first of a burst still goes within the burst delay.
    expect(announcedAt[0]! - start).toBeLessThanOrEqual(ANNOUNCE_DELAY_MS + 1000);
    for (let i = 1; i < announcedAt.length; i++) expect(announcedAt[i]! - announcedAt[i - 1]!).toBeGreaterThanOrEqual(ANNOUNCE_SPACING_MS);
    expect(announcedAt.length).toBeGreaterThanOrEqual(3);
    expect(announcedAt.length).toBeLessThanOrEqual(4);
  });
});
