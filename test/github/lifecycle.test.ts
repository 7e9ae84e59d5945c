/**
 * Targets follow the people and projects behind them, at the service level:
 * a target whose linker loses Admin or Owner is paused, and is not written
 * even by a rotation that started before; a deleted project frees its targets.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { SecretStore, SecretTarget } from '../../src/github/types.ts';
import { targetsOf, type Target, type TargetSpec } from '../../src/services/github-targets.ts';
import { addMember, changeRole, removeMember } from '../../src/services/members.ts';
import { createProjects, deleteProject } from '../../src/services/projects.ts';
import { rotationDetails, startRotation } from '../../src/services/rotations.ts';
import { writeTargets } from '../../src/services/secret-sync.ts';
import { testContext, user } from '../helpers/db.ts';

const owner = user('UOWNER');
const admin = user('UADMIN');

let ctx: Awaited<ReturnType<typeof testContext>>;
let projectId: number;

/** What `github link` leaves behind once GitHub said yes (the checks are tested end to end). */
async function linked(by: string, spec: Partial<TargetSpec> = {}): Promise<Target> {
  const s: TargetSpec = { kind: 'repo', owner: 'acme', repo: 'app', environment: null, visibility: null, secretName: 'JAMJET_API_KEY', ...spec };
  const [{ id }] = (await ctx.db.raw('INSERT INTO github_targets (project_id, kind, owner, repo, environment, visibility, secret_name, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id', [projectId, s.kind, s.owner, s.repo, s.environment, s.visibility, s.secretName, by, ctx.now()])) as [{ id: number }];
  return (await targetsOf(ctx.db, projectId)).find((t) => t.id === id)!;
}

function recordingStore() {
  const writes: SecretTarget[] = [];
  const store: SecretStore = {
    check: async () => ({ ok: true, updatedAt: '' }),
    inspect: async () => ({ ok: true, existing: null, missing: null }),
    write: async (target) => {
      writes.push(target);
      return { ok: true, updatedAt: '2026-11-28T09:00:00Z' };
    },
  };
  return { store, writes };
}

beforeEach(async () => {
  ctx = await testContext();
  expect((await createProjects(ctx, owner, 'alpha', null)).ok).toBe(true);
  projectId = ((await ctx.db.raw("SELECT id FROM projects WHERE name = 'alpha'"))[0] as { id: number }).id;
  await addMember(ctx, owner, 'alpha', admin.userId, 'admin');
});

describe('a linker who is no longer Admin or Owner', () => {
  it('has their targets paused by a removal, returned for the reply, and audited', async () => {
    const theirs = await linked(admin.userId, { repo: 'scratch' });
    const mine = await linked(owner.userId);
    const removed = await removeMember(ctx, owner, 'alpha', admin.userId);
    expect(removed.ok && removed.value.paused.map((t) => t.id)).toEqual([theirs.id]);
    const now = await targetsOf(ctx.db, projectId);
    expect(now.find((t) => t.id === theirs.id)!.pausedAt).toBe(ctx.now());
    expect(now.find((t) => t.id === mine.id)!.pausedAt).toBeNull();
    expect((await ctx.db.raw("SELECT count(*) AS n FROM audit_events WHERE action = 'github.paused'"))[0]).toEqual({ n: 1 });
  });

  it('by a demotion to Member or Read-only, not by a change between Admin and Owner', async () => {
    await linked(admin.userId);
    const promoted = await changeRole(ctx, owner, 'alpha', admin.userId, 'owner');
    expect(promoted.ok && promoted.value.paused).toEqual([]);
    const demoted = await changeRole(ctx, owner, 'alpha', admin.userId, 'read_only');
    expect(demoted.ok && demoted.value.paused).toHaveLength(1);
  });

  it('is not written, even by a rotation that started before the pause', async () => {
    const theirs = await linked(admin.userId, { repo: 'scratch' });
    await linked(owner.userId);
    const started = await startRotation(ctx, owner, 'alpha', null, 3600, false);
    if (!started.ok) throw new Error(started.error.message);
    expect(started.value.targets).toHaveLength(2);
    await removeMember(ctx, owner, 'alpha', admin.userId);
    const { store, writes } = recordingStore();
    await writeTargets(ctx, store, started.value.rotation.id, started.value.targets, started.value.plaintext, owner.userId, { attempts: 1, pauseMs: 0 });
    expect(writes.map((w) => (w.kind === 'repo' ? w.repo : ''))).toEqual(['app']);
    const details = (await rotationDetails(ctx.db, started.value.rotation.id))!;
    expect(details.targets.map((t) => t.target.repo)).toEqual(['app']);
    expect(details.paused.map((t) => t.id)).toEqual([theirs.id]);
  });

  it('is left out of the next rotation', async () => {
    await linked(admin.userId, { repo: 'scratch' });
    await removeMember(ctx, owner, 'alpha', admin.userId);
    const started = await startRotation(ctx, owner, 'alpha', null, 3600, false);
    expect(started.ok && started.value.targets).toEqual([]);
  });
});

describe('a deleted project', () => {
  it('frees its targets', async () => {
    await linked(owner.userId);
    expect((await deleteProject(ctx, owner, 'alpha', 'alpha')).ok).toBe(true);
    expect(await targetsOf(ctx.db, projectId)).toEqual([]);
    expect((await ctx.db.raw('SELECT count(*) AS n FROM github_targets WHERE removed_at IS NOT NULL'))[0]).toEqual({ n: 1 });
  });
});
