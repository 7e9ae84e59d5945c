import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBrokenLink, recordEvent } from '../../src/services/audit.ts';
import { createProjects } from '../../src/services/projects.ts';
import { testContext, user } from '../helpers/db.ts';

let ctx: Awaited<ReturnType<typeof testContext>>;
beforeEach(async () => {
  ctx = await testContext();
  createProjects(ctx, user('UA'), 'one', null);
  createProjects(ctx, user('UA'), 'two', null);
  createProjects(ctx, user('UA'), 'three', null);
});
afterEach(async () => {
  await ctx.db.close();
});

describe('audit trail', () => {
  it('chains every event to the one before', () => {
    const rows = ctx.db.sqlite.prepare('SELECT prev_hash, hash FROM audit_events ORDER BY id').all() as {
      prev_hash: string;
      hash: string;
    }[];
    expect(rows).toHaveLength(6);
    rows.slice(1).forEach((row, i) => expect(row.prev_hash).toBe(rows[i]!.hash));
    expect(findBrokenLink(ctx.db)).toBeNull();
  });

  it('refuses updates and deletes at the database', () => {
    expect(() => ctx.db.sqlite.prepare("UPDATE audit_events SET actor = 'UEVIL'").run()).toThrow(/append-only/);
    expect(() => ctx.db.sqlite.prepare('DELETE FROM audit_events').run()).toThrow(/append-only/);
  });

  it('detects an event changed behind its back', () => {
    ctx.db.sqlite.exec('DROP TRIGGER audit_events_no_update');
    ctx.db.sqlite.prepare("UPDATE audit_events SET actor = 'UEVIL' WHERE id = 2").run();
    expect(findBrokenLink(ctx.db)).toBe(2);
  });

  it('refuses to write an API key or token into an event', () => {
    expect(() =>
      recordEvent(ctx.db, ctx.now(), { projectId: null, actor: 'UA', action: 'x', details: { k: `jj_${'a'.repeat(32)}` } }),
    ).toThrow(/secret/);
  });
});
