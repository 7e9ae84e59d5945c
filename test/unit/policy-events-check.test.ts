import { describe, expect, it } from 'vitest';
import { checkPolicyEvents } from '../../src/api/policy-events.ts';
import { LIMITS } from '../../src/core/limits.ts';
import { sdkDecision } from '../helpers/sdk-client.ts';

const KEY = `jj_${'ab12'.repeat(8)}`;
const good = sdkDecision();

const refusal = (body: unknown) => {
  const checked = checkPolicyEvents(body);
  if (checked.ok) throw new Error('accepted');
  return checked;
};

describe('checking the events of a push', () => {
  it('takes what the TypeScript SDK sends, and decisions the product does not know yet', () => {
    const checked = checkPolicyEvents({ events: [good, { ...good, decision: 'AUDIT', args: undefined }, { ...good, decision: 'SOMETHING_NEW' }], path: 'direct' });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.events[0]).toMatchObject({ tool: 'deploy-prod', decision: 'BLOCKED', rule: 'deploy-*', ruleKind: 'block', executed: false, args: '{"env":"prod"}' });
    expect(checked.events[1]!.args).toBeNull();
  });

  it('takes a decision in lower case, as JamJet\'s own examples push `allowed`, and keeps it upper-cased', () => {
    const checked = checkPolicyEvents({ events: [{ ...good, decision: 'allowed' }, { ...good, decision: 'Budget_Exceeded' }] });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    expect(checked.events.map((e) => e.decision)).toEqual(['ALLOWED', 'BUDGET_EXCEEDED']);
  });

  it.each([
    [null, 'The body must be a JSON object'],
    [[good], 'The body must be a JSON object'],
    [{}, '`events` must be a non-empty array'],
    [{ events: [] }, '`events` must be a non-empty array'],
    [{ events: good }, '`events` must be a non-empty array'],
    [{ events: [good, 'BLOCKED'] }, '`events[1]` must be a JSON object.'],
    [{ events: [good, [good]] }, '`events[1]` must be a JSON object.'],
    [{ events: [{ ...good, tool: undefined }] }, '`events[0].tool` is missing'],
    [{ events: [good, good, { ...good, tool: 42 }] }, '`events[2].tool` must be a string.'],
    [{ events: [{ ...good, tool: '  ' }] }, '`events[0].tool` must not be empty.'],
    [{ events: [{ ...good, run_id: { id: 1 } }] }, '`events[0].run_id` must be a string.'],
    [{ events: [{ ...good, ts: 1732780800 }] }, '`events[0].ts` must be a string.'],
    [{ events: [{ ...good, decision: 'blocked!' }] }, '`events[0].decision` must be a word'],
    [{ events: [{ ...good, decision: '<!channel>' }] }, '`events[0].decision` must be a word'],
    [{ events: [{ ...good, decision: 7 }] }, '`events[0].decision` must be a string'],
    [{ events: [{ ...good, executed: 'false' }] }, '`events[0].executed` must be true or false.'],
    [{ events: [{ ...good, schema_version: 2 }] }, '`events[0].schema_version` must be 1.'],
    [{ events: [{ ...good, schema_version: '1' }] }, '`events[0].schema_version` must be 1.'],
    [{ events: [{ ...good, rule: ['deploy-*'] }] }, '`events[0].rule` must be a string or null.'],
    [{ events: [{ ...good, args: 'env=prod' }] }, '`events[0].args` must be a JSON object.'],
    [{ events: [{ ...good, args: [1, 2] }] }, '`events[0].args` must be a JSON object.'],
    [{ events: [good], path: 5 }, '`path` must be a string'],
  ])('refuses %j with 400 and one sentence', (body, sentence) => {
    const r = refusal(body);
    expect(r.status).toBe(400);
    expect(r.message).toContain(sentence);
    expect(r.message.endsWith('.')).toBe(true);
  });

  it('refuses args nested deeper than anyone reads', () => {
    let deep: Record<string, unknown> = { x: 1 };
    for (let i = 0; i < 30; i++) deep = { deep };
    expect(refusal({ events: [{ ...good, args: deep }] }).message).toContain('`events[0].args` nests more than');
  });

  it('refuses more events than one batch may carry with 413', () => {
    const r = refusal({ events: Array.from({ length: LIMITS.policyEventsPerBatch + 1 }, () => good) });
    expect(r.status).toBe(413);
    expect(r.message).toContain(String(LIMITS.policyEventsPerBatch));
  });

  it('redacts args value by value (a key deep inside, or as a field name) and every text field', () => {
    const checked = checkPolicyEvents({
      events: [
        {
          ...good,
          tool: `push ${KEY}`,
          rule: KEY,
          host: `h${KEY}`,
          args: { env: 'prod', nested: { list: ['ok', { token: `Bearer ${KEY}` }] }, [KEY]: 'as a field name' },
        },
      ],
    });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    const stored = JSON.stringify(checked.events);
    expect(stored).not.toMatch(/jj_[0-9a-f]{32}/);
    expect(stored).not.toContain('ab12ab12');
    const args = JSON.parse(checked.events[0]!.args!) as { env: string; nested: { list: unknown[] } };
    expect(args.env).toBe('prod');
    expect(args.nested.list[0]).toBe('ok');
    expect(Object.keys(args)).toHaveLength(3);
  });

  it('cuts long text fields and keeps oversized args as a note of their size', () => {
    const checked = checkPolicyEvents({ events: [{ ...good, tool: 't'.repeat(5000), rule: '😀'.repeat(300), args: { blob: 'x'.repeat(20_000) } }] });
    expect(checked.ok).toBe(true);
    if (!checked.ok) return;
    const e = checked.events[0]!;
    expect(e.tool.length).toBeLessThanOrEqual(LIMITS.policyEventText);
    expect(e.tool.endsWith('…')).toBe(true);
    expect(e.rule!.length).toBeLessThanOrEqual(LIMITS.policyEventText);
    expect(e.rule).not.toMatch(/[\ud800-\udbff]…$/);
    expect(e.args!.length).toBeLessThanOrEqual(LIMITS.policyEventArgs);
    expect(e.args).toContain('_omitted');
  });
});
