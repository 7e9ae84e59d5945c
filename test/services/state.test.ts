import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { operationalState } from '../../src/services/state.ts';
import { testContext } from '../helpers/db.ts';

let ctx: Awaited<ReturnType<typeof testContext>>;
beforeEach(async () => {
  ctx = await testContext();
});
afterEach(async () => {
  await ctx.db.close();
});

describe('operationalState', () => {
  it('counts due jobs per kind, by kind, as numbers, on either engine', async () => {
    const now = ctx.now();
    // Kinds enqueued out of alphabetical order, more rows of some, one not yet due.
    for (const [kind, ago] of [['zeta.kind', 5], ['alpha.kind', 9], ['mid.kind', 1], ['zeta.kind', 7], ['alpha.kind', 2], ['zeta.kind', 3]] as const) {
      await ctx.jobs.enqueue(kind, {}, now - ago * 1000);
    }
    await ctx.jobs.enqueue('beta.kind', {}, now + 60_000);
    const state = await operationalState(ctx.db, now);
    expect(state).toEqual({
      jobs: [
        { kind: 'alpha.kind', due: 2, oldestDueAt: now - 9000 },
        { kind: 'mid.kind', due: 1, oldestDueAt: now - 1000 },
        { kind: 'zeta.kind', due: 3, oldestDueAt: now - 7000 },
      ],
      pendingJobs: 7,
      pendingApprovals: 0,
      at: now,
    });
  });
});
