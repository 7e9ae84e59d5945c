import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mintKey } from '../../src/core/keys.ts';
import { addRule } from '../../src/services/policies.ts';
import { createProjects } from '../../src/services/projects.ts';
import { testContext, user } from '../helpers/db.ts';

const owner = user('UOWNER');
let ctx: Awaited<ReturnType<typeof testContext>>;
beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, owner, 'payments', null);
});
afterEach(async () => {
  await ctx.db.close();
});

describe('a policy glob never carries a key', () => {
  it('refuses an API key as a glob, whole or inside one, and stores nothing', async () => {
    const key = mintKey();
    for (const pattern of [key, `${key}*`, `tool.${key}`, `ghp_${'a'.repeat(36)}`]) {
      const result = await addRule(ctx, owner, 'payments', 'block', pattern);
      expect(result).toMatchObject({ ok: false, error: { code: 'bad_input' } });
      expect(!result.ok && result.error.message).not.toContain(key);
    }
    expect(await ctx.db.raw('SELECT count(*) AS n FROM policy_rules')).toEqual([{ n: 0 }]);
    const audit = JSON.stringify(await ctx.db.raw('SELECT details FROM audit_events'));
    expect(audit).not.toContain(key);
  });
});
