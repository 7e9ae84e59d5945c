import { describe, expect, it } from 'vitest';
import type { AnnouncementSummary, PolicyEvent } from '../../src/services/policy-events.ts';
import { ruleLine, ruleOf } from '../../src/slack/views/approval-rule.ts';
import { announcementMessage, eventLine } from '../../src/slack/views/policy-events.ts';
import { assertFits } from '../helpers/slack.ts';

const hostile = `<!channel> <https://evil.test|click> &amp; ${'<'.repeat(200)}`;
const event = (over: Partial<PolicyEvent> = {}): PolicyEvent => ({
  id: 1,
  ts: '2026-11-28T09:00:00.000Z',
  adapter: 'ts-sdk',
  host: 'typescript',
  tool: 'deploy-prod',
  decision: 'BLOCKED',
  executed: false,
  rule: 'deploy-*',
  ruleKind: 'block',
  runId: 'run-1',
  receivedAt: Date.UTC(2026, 10, 28, 9),
  ...over,
});

describe('the announcement of blocked decisions', () => {
  it('fits Slack and neither mentions nor links, whatever the agent wrote', () => {
    const summary: AnnouncementSummary = {
      total: 5000,
      groups: Array.from({ length: 10 }, (_, i) => ({ tool: `${hostile}${i}`, decision: i % 2 ? 'BLOCKED' : 'BUDGET_EXCEEDED', count: 500 })),
      groupCount: 400,
      latest: Array.from({ length: 5 }, () => event({ tool: hostile, rule: hostile, adapter: hostile, host: hostile })),
    };
    const message = announcementMessage('payments', summary);
    expect(() => assertFits('chat.postMessage', { channel: 'C1', ...message })).not.toThrow();
    const all = JSON.stringify(message);
    expect(all).not.toContain('<!channel>');
    expect(all).not.toContain('<https://evil.test');
    expect(all).toContain('5000 agent decisions blocked or over budget');
    expect(all).toContain('and 390 more tools');
    // Eight groups of tool names that escape to their longest still leave room for the "more tools" line.
    const amps = announcementMessage('payments', { ...summary, groups: summary.groups.slice(0, 8).map((g) => ({ ...g, tool: '&'.repeat(200) })) });
    expect(JSON.stringify(amps.blocks![0])).toContain('and 392 more tools');
    expect(all).toContain('And 4995 more');
  });

  it('says which rule and adapter blocked the latest ones', () => {
    const message = announcementMessage('payments', { total: 1, groups: [{ tool: 'deploy-prod', decision: 'BLOCKED', count: 1 }], groupCount: 1, latest: [event()] });
    const all = JSON.stringify(message.blocks);
    expect(all).toContain('1 × `deploy-prod` blocked');
    expect(all).toContain('by rule `deploy-*` (`block`)');
    expect(all).toContain('`ts-sdk` on `typescript`');
    expect(all).not.toContain('more');
    expect(eventLine(event({ executed: true, rule: null }))).not.toContain('rule');
  });
});

describe('the rule line of an approval card', () => {
  it.each([
    [{ rule: 'deploy-*', rule_kind: 'require_approval' }, { glob: 'deploy-*', kind: 'require_approval' }],
    [{ policy_rule: 'db.*' }, { glob: 'db.*', kind: null }],
    [{ matched_rule: { match: 'shell:*' } }, { glob: 'shell:*', kind: null }],
    [{ policy: { pattern: 'pay*', action: 'require_approval' } }, { glob: 'pay*', kind: 'require_approval' }],
    [{ rule: 'x', rule_kind: 'made-up' }, { glob: 'x', kind: null }],
    [{ rule: '', policy_rule: 'y' }, { glob: 'y', kind: null }],
    [{ rule: 42 }, null],
    [{ version: '1' }, null],
  ])('reads %j', (context, expected) => {
    expect(ruleOf(context)).toEqual(expected);
  });

  it('escapes and cuts what the agent wrote', () => {
    const line = ruleLine({ rule: `${hostile} jj_${'ab'.repeat(16)}` })!;
    expect(line).not.toContain('<!channel>');
    expect(line).not.toMatch(/jj_[0-9a-f]{32}/);
    expect(line.length).toBeLessThan(500);
  });
});
