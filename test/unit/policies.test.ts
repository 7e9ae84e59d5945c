import { describe, expect, it } from 'vitest';
import { firstMatch, globMatches, newRuleId, PATTERN_MAX, patternProblem, RULE_ID_PATTERN } from '../../src/core/policies.ts';
import { fnmatch } from '../helpers/sdk-client.ts';

describe('tool globs', () => {
  it.each(['*', 'payments.*', 'github__create_*', 'db.?rop', 'mcp:server/tool', 'a', 'x@y-z_1.2', '*.delete*', 'A'.repeat(PATTERN_MAX)])(
    'accepts %j',
    (pattern) => {
      expect(patternProblem(pattern)).toBeNull();
    },
  );

  it.each([
    ['', 'empty'],
    ['x'.repeat(PATTERN_MAX + 1), 'characters long'],
    ['tool[0-9]', 'disagree'],
    ['tool]', 'disagree'],
    ['[!a]*', 'disagree'],
    ['pay ments', 'a space'],
    ['pay\tments', 'U+0009'],
    ['pay\nments', 'U+000A'],
    ['tool\u0000', 'U+0000'],
    ['tool\u007f', 'U+007F'],
    ['tööl', 'U+00F6'],
    ['tool\u200b', 'U+200B'],
    ['tool\u00a0x', 'U+00A0'],
    ['emoji✨', 'U+2728'],
    ['a\\*', '`\\`'],
    ['"quoted"', '`"`'],
    ['{a,b}', '`{`'],
    ['<!channel>', '`<`'],
    ['a`b', '`'],
    ['a|b', '`|`'],
    ['a**b', '`**`'],
    ['*a*a*a*b', '4 `*`'],
    ['*a*a*a*a*a*a*a*a*b', '9 `*`'],
  ])('refuses %j with one sentence naming the problem', (pattern, named) => {
    const problem = patternProblem(pattern);
    expect(problem).not.toBeNull();
    expect(problem).toContain(named);
    expect(problem).toContain('A tool glob is 1 to');
  });
});

describe('first-match evaluation with fnmatch semantics', () => {
  const cases: [string, string, boolean][] = [
    ['*', '', true],
    ['*', 'anything.at.all', true],
    ['payments.*', 'payments.refund', true],
    ['payments.*', 'payments.', true],
    ['payments.*', 'payments', false],
    ['payments.*', 'xpayments.refund', false],
    ['*.delete', 'db.rows.delete', true],
    ['*.delete', 'db.rows.deleted', false],
    ['db.?rop', 'db.drop', true],
    ['db.?rop', 'db.rop', false],
    ['db.?rop', 'db.ddrop', false],
    ['Shell', 'shell', false],
    ['a*b*c', 'axxbyyc', true],
    ['a*b*c', 'axxbyy', false],
    ['*a*a*b', 'a'.repeat(60), false],
    ['*a*a*a', 'a'.repeat(60), true],
    ['??', 'ab', true],
    ['??', 'abc', false],
    ['a.b', 'axb', false],
  ];
  it.each(cases)('%j against %j is %s, as fnmatch says', (pattern, name, expected) => {
    expect(globMatches(pattern, name)).toBe(expected);
    expect(fnmatch(name, pattern)).toBe(expected);
  });

  it('the first matching rule decides; later rules cannot override; no match allows', () => {
    const rules = [
      { action: 'allow' as const, pattern: 'payments.read' },
      { action: 'block' as const, pattern: 'payments.*' },
      { action: 'require_approval' as const, pattern: '*' },
    ];
    expect(firstMatch(rules, 'payments.read')?.action).toBe('allow');
    expect(firstMatch(rules, 'payments.refund')?.action).toBe('block');
    expect(firstMatch(rules, 'search.query')?.action).toBe('require_approval');
    expect(firstMatch(rules.slice(0, 2), 'search.query')).toBeNull();
  });

  it('mints rule ids of the documented form', () => {
    const ids = new Set(Array.from({ length: 50 }, newRuleId));
    for (const id of ids) expect(id).toMatch(RULE_ID_PATTERN);
    expect(ids.size).toBe(50);
  });
});
