/**
 * Kind 10: input as people type it. Text is normalised once, in the
 * tokenizer, in linear time; the router and the commands see plain words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandRouter } from '../../src/slack/router.ts';
import { splitArgs, tokenize } from '../../src/slack/tokenize.ts';
import { COMMANDS } from '../../commands/index.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FakeSlack, slash } from '../helpers/slack.ts';

const OWNER = 'U0OWNER';

describe('the tokenizer', () => {
  it.each([
    ['keys create payments --name="ci deploy"', ['keys', 'create', 'payments', '--name=ci deploy']],
    ['keys create payments --name=“ci deploy”', ['keys', 'create', 'payments', '--name=ci deploy']],
    ['keys create payments --name “ci deploy”', ['keys', 'create', 'payments', '--name', 'ci deploy']],
    ['keys create payments --name=„ci deploy“', ['keys', 'create', 'payments', '--name=ci deploy']],
    ["keys create payments --name='ci deploy'", ['keys', 'create', 'payments', '--name=ci deploy']],
    ['keys create payments --name=‘ci deploy’', ['keys', 'create', 'payments', '--name=ci deploy']],
    ["keys create payments --name don't", ['keys', 'create', 'payments', '--name', "don't"]],
    ['keys create payments —name ci', ['keys', 'create', 'payments', '--name', 'ci']],
    ['keys create payments –name ci', ['keys', 'create', 'payments', '--name', 'ci']],
    ['keys rotate payments ‒revoke-now', ['keys', 'rotate', 'payments', '--revoke-now']],
    ['keys rotate payments ——overlap 1h', ['keys', 'rotate', 'payments', '--overlap', '1h']],
    ['keys\u00a0list\u202fpayments', ['keys', 'list', 'payments']],
    ['keys list pay\u200bments\u2060', ['keys', 'list', 'payments']],
    ['\ufeffkeys\u3000list payments', ['keys', 'list', 'payments']],
    ['members invite demo <@U123|adam smith> admin', ['members', 'invite', 'demo', '<@U123|adam smith>', 'admin']],
    ['projects channel demo <#C123|ops>', ['projects', 'channel', 'demo', '<#C123|ops>']],
    ['members invite demo <mailto:a@b.c|a@b.c>', ['members', 'invite', 'demo', '<mailto:a@b.c|a@b.c>']],
    ['policies add demo block db&amp;drop_*', ['policies', 'add', 'demo', 'block', 'db&drop_*']],
    ['x &lt;@U1&gt; &amp;amp;', ['x', '<@U1>', '&amp;']],
    ['keys create demo --name "a &amp; b"', ['keys', 'create', 'demo', '--name', 'a & b']],
    ['a "" b', ['a', 'b']],
    ['a "unclosed b', ['a', 'unclosed', 'b']],
    ['a < b', ['a', '<', 'b']],
  ])('reads %j', (text, words) => {
    expect(tokenize(text)).toEqual(words);
  });

  it('gives a --flag=value its value, and a --flag= the next word', () => {
    expect(splitArgs(tokenize('p --name="ci deploy"'), new Set())).toEqual({ positionals: ['p'], flags: { name: 'ci deploy' } });
    expect(splitArgs(tokenize('p --name= “ci deploy”'), new Set())).toEqual({ positionals: ['p'], flags: { name: 'ci deploy' } });
    expect(splitArgs(tokenize('p —revoke-now='), new Set(['revoke-now']))).toEqual({ positionals: ['p'], flags: { 'revoke-now': true } });
  });

  it('routes capitalised command words', () => {
    const router = new CommandRouter(COMMANDS);
    for (const text of ['Keys Create payments', 'KEYS create payments', 'keys\u00a0Create payments']) {
      const resolved = router.resolve(text);
      expect('command' in resolved && `${resolved.command.group} ${resolved.command.verb}`).toBe('keys create');
    }
  });

  describe('takes time linear in the input', () => {
    const steps = (text: string) => {
      const stats = { steps: 0 };
      tokenize(text, stats);
      return stats.steps;
    };
    // Inputs that make a backtracking pattern rescan the rest of the text at every character.
    const pathological: [string, (n: number) => string][] = [
      ['unclosed <', (n) => '<'.repeat(n)],
      ['unclosed quotes', (n) => '"a'.repeat(n)],
      ['unclosed single quotes', (n) => " 'a".repeat(n)],
      ['dash runs', (n) => ' —-'.repeat(n)],
      ['entities', (n) => '&amp'.repeat(n)],
      ['mixed', (n) => `<"'—&lt;\u00a0\u200b=`.repeat(n)],
    ];
    it.each(pathological)('%s', (_name, make) => {
      const small = make(5_000);
      const large = make(10_000);
      // A bounded number of visits per character, and doubling the input doubles the work.
      expect(steps(small)).toBeLessThanOrEqual(6 * small.length);
      expect(steps(large)).toBeLessThanOrEqual(2.2 * steps(small));
    });

    it('finishes a 400,000-character input', () => {
      const words = tokenize('<"a '.repeat(100_000));
      expect(words.length).toBeGreaterThan(0);
    });
  });
});

describe('typed text through the running app', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ slack: new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }) });
    const created = await slash(t.port, OWNER, 'projects create payments');
    expect(created.text).toContain('payments');
  });
  afterAll(async () => {
    await t.stop();
  });

  const labels = async () =>
    (await t.app.db.raw('SELECT name FROM api_keys ORDER BY id') as { name: string }[]).map((r) => r.name);

  it.each([
    'keys create payments --name="ci deploy"',
    'keys create payments --name=“ci deploy”',
    'keys create payments --name “ci deploy”',
    'Keys Create payments —name “ci deploy”',
    'keys\u00a0create payments --name=\u200b"ci deploy"',
  ])('creates a key labelled `ci deploy` from %j', async (text) => {
    const before = (await labels()).length;
    const reply = await slash(t.port, OWNER, text);
    expect(reply.text).not.toContain('Unexpected');
    expect(await labels()).toHaveLength(before + 1);
    expect((await labels()).at(-1)).toBe('ci deploy');
  });
});
