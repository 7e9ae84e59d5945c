/**
 * Kind 2, authority filtered after a limit: what a person may act on is
 * chosen in the query, before any limit, so other people's rows never take
 * its places.
 */
import { describe, expect, it } from 'vitest';
import { createApproval, decidableBy } from '../../src/services/approvals.ts';
import type { KeyIdentity } from '../../src/services/key-auth.ts';
import { createKey } from '../../src/services/keys.ts';
import { addMember } from '../../src/services/members.ts';
import { createProjects } from '../../src/services/projects.ts';
import { homeView } from '../../src/slack/views/home.ts';
import { testContext, user } from '../helpers/db.ts';

type Ctx = Awaited<ReturnType<typeof testContext>>;

/** The identity an SDK call with each of the project's active keys would have. */
async function keysOf(ctx: Ctx, project: string): Promise<KeyIdentity[]> {
  return (
    await ctx.db.raw(
        'SELECT k.id AS "keyId", k.public_id AS "publicId", p.id AS "projectId", p.name AS "projectName" FROM api_keys k JOIN projects p ON p.id = k.project_id WHERE p.name = ? AND k.revoked_at IS NULL ORDER BY k.id',
      [project]) as KeyIdentity[]
  );
}

/** `count` requests from a project, spread over its keys, each a second apart. */
async function flood(ctx: Ctx, project: string, count: number, label = project): Promise<string[]> {
  const keys = await keysOf(ctx, project);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ctx.advance(1000);
    const created = await createApproval(ctx, keys[i % keys.length]!, `${label} ${i}`, {});
    if (!created.ok) throw new Error(created.error.message);
    ids.push(created.value.id);
  }
  return ids;
}

async function setUp() {
  const ctx = await testContext();
  // A stranger with their own project and three keys (a key holds at most 100 pending requests).
  await createProjects(ctx, user('USTRANGER'), 'spam', null);
  await createKey(ctx, user('USTRANGER'), 'spam', 'two');
  await createKey(ctx, user('USTRANGER'), 'spam', 'three');
  // Mia is a Member of payments.
  await createProjects(ctx, user('UOWNER'), 'payments', null);
  await addMember(ctx, user('UOWNER'), 'payments', 'UMIA', 'member');
  return ctx;
}

describe('App Home: approvals waiting for you', () => {
  it('the example: a stranger’s 210 newer requests in their own project do not hide a Member’s request', async () => {
    const ctx = await setUp();
    const [mine] = await flood(ctx, 'payments', 1, 'deploy payments');
    await flood(ctx, 'spam', 210);
    const shown = await decidableBy(ctx, user('UMIA'));
    expect(shown.map((s) => s.approval.id)).toEqual([mine]);
    const view = JSON.stringify(homeView({ roles: [], approvals: shown, rotations: [], isAdmin: false }));
    expect(view).toContain('Approvals waiting for you* (1)');
    expect(view).toContain(mine);
  });

  it('a full page of the viewer’s own requests among 250 newer strangers’ requests: the 20 newest of theirs, newest first', async () => {
    const ctx = await setUp();
    const mine = await flood(ctx, 'payments', 25, 'deploy payments');
    await flood(ctx, 'spam', 250);
    const shown = await decidableBy(ctx, user('UMIA'));
    expect(shown.map((s) => s.approval.id)).toEqual(mine.slice(-20).reverse());
    // The capped query cannot know how many wait in all: the header does not claim the 20 it read.
    const view = JSON.stringify(homeView({ roles: [], approvals: shown, rotations: [], isAdmin: false }));
    expect(view).toContain('Approvals waiting for you* (more than 15)');
    expect(view).not.toContain('Approvals waiting for you* (20)');
  });

  it('requests of a project where the viewer is Read-only take no places either', async () => {
    const ctx = await setUp();
    await addMember(ctx, user('USTRANGER'), 'spam', 'UMIA', 'read_only');
    const [mine] = await flood(ctx, 'payments', 1, 'deploy payments');
    await flood(ctx, 'spam', 210);
    expect((await decidableBy(ctx, user('UMIA'))).map((s) => s.approval.id)).toEqual([mine]);
    // A workspace admin may decide everywhere: the 20 newest of all.
    expect(await decidableBy(ctx, user('UROOT', true))).toHaveLength(20);
    // Someone with no role anywhere sees nothing, however many there are.
    expect(await decidableBy(ctx, user('UNOBODY'))).toEqual([]);
  });
});
