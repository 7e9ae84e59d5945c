import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LIMITS } from '../../src/core/limits.ts';
import type { Role } from '../../src/core/roles.ts';
import { latestEvents } from '../../src/services/audit.ts';
import { addRule, listRules, moveRule, POLICY_ANNOUNCE_JOB, removeRule, rulesForProject } from '../../src/services/policies.ts';
import { addMember } from '../../src/services/members.ts';
import { createProjects, deleteProject, setApprovalsChannel } from '../../src/services/projects.ts';
import { testContext, user } from '../helpers/db.ts';

const owner = user('UOWNER');
const people: Record<Role, string> = { owner: 'UOWNER', admin: 'UADMIN', member: 'UMEMBER', read_only: 'UREADER' };
const stranger = user('USTRANGER');
const workspaceAdmin = user('UWSADMIN', true);

let ctx: Awaited<ReturnType<typeof testContext>>;
let projectId: number;
beforeEach(async () => {
  ctx = await testContext();
  const created = await createProjects(ctx, owner, 'payments', null);
  if (!created.ok) throw new Error(created.error.message);
  projectId = created.value[0]!.project.id;
  for (const role of ['admin', 'member', 'read_only'] as const) await addMember(ctx, owner, 'payments', people[role], role);
  await createProjects(ctx, user('UOTHER'), 'search', null);
});
afterEach(async () => {
  await ctx.db.close();
});

const order = async (name = 'payments', who = name === 'payments' ? owner : user('UOTHER')) => {
  const listed = await listRules(ctx, who, name);
  if (!listed.ok) throw new Error(listed.error.message);
  return listed.value.rules.map((r) => [r.position, r.action, r.pattern]);
};
const snapshot = async () => [
  await ctx.db.raw('SELECT public_id, project_id, action, pattern, position FROM policy_rules ORDER BY id'),
  await ctx.db.raw('SELECT count(*) AS n FROM audit_events'),
  await ctx.db.raw('SELECT count(*) AS n FROM jobs'),
];
const add = async (pattern: string, action = 'block', position?: number) => {
  const result = await addRule(ctx, owner, 'payments', action, pattern, position);
  if (!result.ok) throw new Error(result.error.message);
  return result.value.rule;
};

describe('the role table for every policies verb', () => {
  type Who = ReturnType<typeof user>;
  // Each verb: what is set up by the Owner first (its rule id), then the change by `who`.
  const verbs: Record<string, { setup: () => Promise<string>; act: (who: Who, id: string) => ReturnType<typeof addRule | typeof removeRule | typeof moveRule> }> = {
    add: { setup: async () => '', act: (who) => addRule(ctx, who, 'payments', 'block', 'tool.x') },
    remove: { setup: async () => (await add('to.remove')).publicId, act: (who, id) => removeRule(ctx, who, 'payments', id) },
    move: {
      setup: async () => {
        await add('first');
        return (await add('second')).publicId;
      },
      act: (who, id) => moveRule(ctx, who, 'payments', id, 1),
    },
  };

  for (const [verb, { setup, act }] of Object.entries(verbs)) {
    it.each(['owner', 'admin', 'member'] as const)(`${verb}: %s may`, async (role) => {
      const id = await setup();
      const before = await snapshot();
      const result = await act(user(people[role]), id);
      expect(result.ok, !result.ok ? result.error.message : '').toBe(true);
      expect(await snapshot()).not.toEqual(before);
    });

    it(`${verb}: read_only is refused, naming the role needed, and nothing changes`, async () => {
      const id = await setup();
      const before = await snapshot();
      const result = await act(user(people.read_only), id);
      expect(result).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      expect(!result.ok && result.error.message).toContain('Member or above');
      expect(await snapshot()).toEqual(before);
    });

    it(`${verb}: someone with no role learns only that they have no access, and nothing changes`, async () => {
      const id = await setup();
      const before = await snapshot();
      const result = await act(stranger, id);
      expect(result).toMatchObject({ ok: false, error: { code: 'no_access' } });
      expect(!result.ok && result.error.message).toBe('You have no access to project `payments`, or it does not exist.');
      expect(await snapshot()).toEqual(before);
    });

    it(`${verb}: a workspace admin acts as Owner`, async () => {
      expect((await act(workspaceAdmin, await setup())).ok).toBe(true);
    });
  }

  it.each(['owner', 'admin', 'member', 'read_only'] as const)('list: %s may', async (role) => {
    await add('payments.*');
    const result = await listRules(ctx, user(people[role]), 'payments');
    expect(result.ok && result.value.rules.map((r) => r.pattern)).toEqual(['payments.*']);
  });

  it('list: someone with no role learns only that they have no access, also for a project that does not exist', async () => {
    await add('payments.*');
    const there = await listRules(ctx, stranger, 'payments');
    const missing = await listRules(ctx, stranger, 'nowhere');
    expect(there).toMatchObject({ ok: false, error: { code: 'no_access' } });
    expect(!there.ok && !missing.ok && there.error.message.replace('payments', 'X')).toBe(!missing.ok && missing.error.message.replace('nowhere', 'X'));
  });
});

describe('order', () => {
  it('adds at the end by default and at a position when asked, keeping positions dense', async () => {
    await add('a');
    await add('b');
    await add('c', 'allow', 1);
    await add('d', 'require_approval', 3);
    expect(await order()).toEqual([
      [1, 'allow', 'c'],
      [2, 'block', 'a'],
      [3, 'require_approval', 'd'],
      [4, 'block', 'b'],
    ]);
    expect(await order()).toHaveLength(4);
  });

  it('removes and moves, closing the gap and shifting the rules in between', async () => {
    const a = await add('a');
    const b = await add('b');
    const c = await add('c');
    const d = await add('d');
    expect((await moveRule(ctx, owner, 'payments', d.publicId, 1)).ok).toBe(true);
    expect((await order()).map((r) => r[2])).toEqual(['d', 'a', 'b', 'c']);
    expect((await moveRule(ctx, owner, 'payments', d.publicId, 4)).ok).toBe(true);
    expect((await order()).map((r) => r[2])).toEqual(['a', 'b', 'c', 'd']);
    expect((await moveRule(ctx, owner, 'payments', a.publicId, 3)).ok).toBe(true);
    expect((await order()).map((r) => r[2])).toEqual(['b', 'c', 'a', 'd']);
    expect((await removeRule(ctx, owner, 'payments', c.publicId.toUpperCase())).ok).toBe(true);
    expect(await order()).toEqual([
      [1, 'block', 'b'],
      [2, 'block', 'a'],
      [3, 'block', 'd'],
    ]);
    void b;
  });

  it('moving a rule to where it is changes and records nothing', async () => {
    const a = await add('a');
    const before = await snapshot();
    const result = await moveRule(ctx, owner, 'payments', a.publicId, 1);
    expect(result.ok && result.value.from).toBe(1);
    expect(await snapshot()).toEqual(before);
  });

  it('keeps positions dense and every rule when changes land at once', async () => {
    const first = await Promise.all(Array.from({ length: 12 }, (_, i) => addRule(ctx, user(people.member), 'payments', 'block', `t${i}`, 1)));
    expect(first.every((r) => r.ok)).toBe(true);
    const ids = first.map((r) => (r.ok ? r.value.rule.publicId : ''));
    const mixed = await Promise.all([
      ...ids.slice(0, 4).map((id) => removeRule(ctx, owner, 'payments', id)),
      ...ids.slice(4, 8).map((id, i) => moveRule(ctx, user(people.admin), 'payments', id, i + 1)),
      ...Array.from({ length: 4 }, (_, i) => addRule(ctx, owner, 'payments', 'allow', `n${i}`, 2)),
    ]);
    expect(mixed.every((r) => r.ok)).toBe(true);
    const rules = await order();
    expect(rules.map((r) => r[0])).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(new Set(rules.map((r) => r[2])).size).toBe(12);
  });
});

describe('bad input changes nothing', () => {
  it.each([
    ['payments', 'deny', 'x', undefined, 'bad_input', 'not a rule action'],
    ['payments', 'BLOCK', 'x', undefined, 'bad_input', 'not a rule action'],
    ['payments', 'block', '', undefined, 'bad_input', 'empty'],
    ['payments', 'block', 'tool[12]', undefined, 'bad_input', 'disagree'],
    ['payments', 'block', 'two words', undefined, 'bad_input', 'a space'],
    ['payments', 'block', 'a****', undefined, 'bad_input', '`**`'],
    ['payments', 'block', 'x', 0, 'bad_input', 'whole number'],
    ['payments', 'block', 'x', -1, 'bad_input', 'whole number'],
    ['payments', 'block', 'x', 1.5, 'bad_input', 'whole number'],
    ['payments', 'block', 'x', 3, 'bad_input', 'position 3 does not exist'],
  ] as const)('add to %s: %s %j at %s', async (name, action, pattern, position, codeWanted, said) => {
    await add('existing');
    const before = await snapshot();
    const result = await addRule(ctx, owner, name, action, pattern, position);
    expect(result).toMatchObject({ ok: false, error: { code: codeWanted } });
    expect(!result.ok && result.error.message).toContain(said);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses positions past the end for move, and unknown rule ids for remove and move', async () => {
    const a = await add('a');
    await add('b');
    const before = await snapshot();
    for (const result of [
      await moveRule(ctx, owner, 'payments', a.publicId, 3),
      await moveRule(ctx, owner, 'payments', a.publicId, 0),
      await moveRule(ctx, owner, 'payments', 'pol_00000000', 1),
      await removeRule(ctx, owner, 'payments', 'pol_00000000'),
      await removeRule(ctx, owner, 'payments', 'key_12345678'),
      await removeRule(ctx, owner, 'payments', '<!channel>'),
    ]) {
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error.message).not.toContain('<!channel>');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('a rule id of another project looks exactly like an unknown one', async () => {
    const theirs = await addRule(ctx, user('UOTHER'), 'search', 'block', 'search.*');
    if (!theirs.ok) throw new Error(theirs.error.message);
    const before = await snapshot();
    const removed = await removeRule(ctx, owner, 'payments', theirs.value.rule.publicId);
    const moved = await moveRule(ctx, owner, 'payments', theirs.value.rule.publicId, 1);
    const unknown = await removeRule(ctx, owner, 'payments', 'pol_0badc0de');
    expect(removed).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(moved).toMatchObject({ ok: false, error: { code: 'not_found' } });
    const shape = (r: typeof removed) => (!r.ok ? r.error.message.replace(/pol_[0-9a-f]{8}/, 'ID') : '');
    expect(shape(removed)).toBe(shape(unknown));
    expect(await snapshot()).toEqual(before);
    expect(await order('search')).toEqual([[1, 'block', 'search.*']]);
  });

  it(`stops at ${LIMITS.policyRulesPerProject} rules, naming the bound`, async () => {
    for (let i = 0; i < LIMITS.policyRulesPerProject; i++) await add(`tool${i}`);
    const before = await snapshot();
    const result = await addRule(ctx, user(people.member), 'payments', 'block', 'one.more');
    expect(result).toMatchObject({ ok: false, error: { code: 'conflict' } });
    expect(!result.ok && result.error.message).toContain(String(LIMITS.policyRulesPerProject));
    expect(await snapshot()).toEqual(before);
    // Another project is not affected by this one's bound.
    expect((await addRule(ctx, user('UOTHER'), 'search', 'block', 'x')).ok).toBe(true);
  });
});

describe('audit, announcements and the project', () => {
  it('audits each change with the rule, and announces it only when an approvals channel is set', async () => {
    const a = await add('payments.*');
    expect(await ctx.db.raw('SELECT count(*) AS n FROM jobs WHERE kind = ?', [POLICY_ANNOUNCE_JOB])).toEqual([{ n: 0 }]);
    await setApprovalsChannel(ctx, owner, 'payments', 'C0APPROVALS');
    await add('shell', 'require_approval', 1);
    await moveRule(ctx, owner, 'payments', a.publicId, 1);
    await removeRule(ctx, owner, 'payments', a.publicId);
    const events = (await latestEvents(ctx, projectId, 10)).filter((e) => e.action.startsWith('policy.'));
    expect(events.map((e) => e.action)).toEqual(['policy.removed', 'policy.moved', 'policy.added', 'policy.added']);
    expect(events[1]!.details).toMatchObject({ rule: a.publicId, from: 2, position: 1, pattern: 'payments.*' });
    const jobs = (await ctx.db.raw('SELECT payload FROM jobs WHERE kind = ? ORDER BY id', [POLICY_ANNOUNCE_JOB])) as { payload: string }[];
    expect(jobs.map((j) => (JSON.parse(j.payload) as { change: string }).change)).toEqual(['added', 'moved', 'removed']);
  });

  it('serves an SDK the rules in order from the cache, and forgets it when they change', async () => {
    await add('a');
    expect((await rulesForProject(ctx.db, projectId)).map((r) => r.pattern)).toEqual(['a']);
    await add('b', 'allow', 1);
    expect((await rulesForProject(ctx.db, projectId)).map((r) => [r.pattern, r.position])).toEqual([
      ['b', 1],
      ['a', 2],
    ]);
  });

  it('rules go with their project; a project created again under the name starts with none', async () => {
    await add('a');
    expect((await deleteProject(ctx, owner, 'payments', 'payments')).ok).toBe(true);
    expect(await ctx.db.raw('SELECT count(*) AS n FROM policy_rules WHERE project_id = ?', [projectId])).toEqual([{ n: 0 }]);
    await createProjects(ctx, owner, 'payments', null);
    expect(await order()).toEqual([]);
  });
});
