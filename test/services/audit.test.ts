import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBrokenLink, observeAuditEvents, recordEvent, verifyChain, type RecordedAuditEvent } from '../../src/services/audit.ts';
import { createProjects } from '../../src/services/projects.ts';
import { sqliteOf, testContext, user } from '../helpers/db.ts';
import { TEST_ENGINE } from '../helpers/engine.ts';

let ctx: Awaited<ReturnType<typeof testContext>>;
beforeEach(async () => {
  ctx = await testContext();
  await createProjects(ctx, user('UA'), 'one', null);
  await createProjects(ctx, user('UA'), 'two', null);
  await createProjects(ctx, user('UA'), 'three', null);
});
afterEach(async () => {
  await ctx.db.close();
});

describe('audit trail', () => {
  it('chains every event to the one before', async () => {
    const rows = await ctx.db.raw('SELECT prev_hash, hash FROM audit_events ORDER BY id') as {
      prev_hash: string;
      hash: string;
    }[];
    expect(rows).toHaveLength(6);
    rows.slice(1).forEach((row, i) => expect(row.prev_hash).toBe(rows[i]!.hash));
    expect(await findBrokenLink(ctx.db)).toBeNull();
  });

  it('refuses updates and deletes at the database', async () => {
    await expect(ctx.db.raw("UPDATE audit_events SET actor = 'UEVIL'")).rejects.toThrow(/append-only/);
    await expect(ctx.db.raw('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
    // PostgreSQL's TRUNCATE skips row triggers; a statement trigger refuses it.
    if (ctx.db.engine === 'postgres') await expect(ctx.db.raw('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
    expect(await verifyChain(ctx.db)).toEqual({ brokenAt: null, checked: 6 });
  });

  it('detects an event changed behind its back, also when walking in batches', async () => {
    expect(await verifyChain(ctx.db, 2)).toEqual({ brokenAt: null, checked: 6 });
    // Someone with the database's own rights switches the guard off first.
    if (ctx.db.engine === 'postgres') await ctx.db.raw('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update');
    else sqliteOf(ctx.db).exec('DROP TRIGGER audit_events_no_update');
    await ctx.db.raw("UPDATE audit_events SET actor = 'UEVIL' WHERE id = 4");
    expect(await findBrokenLink(ctx.db)).toBe(4);
    expect(await verifyChain(ctx.db, 2)).toEqual({ brokenAt: 4, checked: 3 });
  });

  it('blanks an API key or token before it reaches an event', async () => {
    const key = `jj_${'a'.repeat(32)}`;
    await recordEvent(ctx.db, ctx.now(), { projectId: null, actor: 'UA', action: 'x', details: { k: key, t: 'xoxb-1-2-secret' } });
    const details = JSON.stringify(await ctx.db.raw('SELECT details FROM audit_events'));
    expect(details).not.toContain(key);
    expect(details).not.toContain('xoxb-1-2-secret');
    expect(details).toContain('jj_[redacted]');
    expect(await findBrokenLink(ctx.db)).toBeNull();
  });

  it('refuses an event that replaces another or does not continue the chain', async () => {
    const last = (await ctx.db.raw('SELECT * FROM audit_events ORDER BY id DESC LIMIT 1'))[0] as Record<string, unknown>;
    if (ctx.db.engine === 'postgres') {
      // An upsert onto event 2's id, and one that continues the chain but lands on event 2's hash.
      const second = (await ctx.db.raw('SELECT hash FROM audit_events WHERE id = 2'))[0] as { hash: string };
      await expect(
        ctx.db.raw('INSERT INTO audit_events (id, project_id, actor, action, details, created_at, prev_hash, hash) VALUES (2, NULL, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET actor = excluded.actor, hash = excluded.hash', [
          'UEVIL',
          'x',
          '{}',
          0,
          last.hash,
          'f'.repeat(64),
        ]),
      ).rejects.toThrow(/append-only|continue the chain/);
      await expect(
        ctx.db.raw('INSERT INTO audit_events (project_id, actor, action, details, created_at, prev_hash, hash) VALUES (NULL, ?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO UPDATE SET actor = excluded.actor', [
          'UEVIL',
          'x',
          '{}',
          0,
          last.hash,
          second.hash,
        ]),
      ).rejects.toThrow(/append-only/);
    } else {
      await expect(ctx.db.raw('INSERT OR REPLACE INTO audit_events (id, project_id, actor, action, details, created_at, prev_hash, hash) VALUES (2, NULL, ?, ?, ?, ?, ?, ?)', ['UEVIL', 'x', '{}', 0, last.hash, 'f'.repeat(64)])).rejects.toThrow(/append-only|continue the chain/);
    }
    await expect(ctx.db.raw('INSERT INTO audit_events (project_id, actor, action, details, created_at, prev_hash, hash) VALUES (NULL, ?, ?, ?, ?, ?, ?)', ['UEVIL', 'x', '{}', 0, '0'.repeat(64), 'e'.repeat(64)])).rejects.toThrow(/continue the chain/);
    expect(await verifyChain(ctx.db)).toEqual({ brokenAt: null, checked: 6 });
  });

  it.runIf(TEST_ENGINE === 'postgres')('on PostgreSQL, lets no two events continue the same one, even with the chain trigger off', async () => {
    // Two transactions that each read the same last event would both pass the trigger; the unique index refuses the second.
    await ctx.db.raw('ALTER TABLE audit_events DISABLE TRIGGER audit_events_chain');
    const third = (await ctx.db.raw('SELECT hash FROM audit_events WHERE id = 3'))[0] as { hash: string };
    await expect(
      ctx.db.raw('INSERT INTO audit_events (project_id, actor, action, details, created_at, prev_hash, hash) VALUES (NULL, ?, ?, ?, ?, ?, ?)', ['UEVIL', 'x', '{}', 0, third.hash, 'd'.repeat(64)]),
    ).rejects.toThrow(/audit_events_one_successor/);
    expect(await verifyChain(ctx.db)).toEqual({ brokenAt: null, checked: 6 });
  });
});

describe('audit events for the log', () => {
  const seen: RecordedAuditEvent[] = [];
  beforeEach(() => {
    seen.length = 0;
    observeAuditEvents(ctx.db, (e) => seen.push(e));
  });

  it('tells of an event once its transaction commits, with the id and hash the database holds', async () => {
    await ctx.db.transaction(async () => {
      await recordEvent(ctx.db, 1000, { projectId: 1, actor: 'UA', action: 'test.one', details: { note: 'a' } });
      expect(seen).toEqual([]);
    });
    await recordEvent(ctx.db, 2000, { projectId: null, actor: 'jamjet', action: 'test.two' });
    const rows = await ctx.db.raw('SELECT * FROM audit_events WHERE id > 6 ORDER BY id') as { id: number; hash: string; prev_hash: string; details: string }[];
    expect(seen.map((e) => [e.id, e.action, e.hash, e.prevHash, e.details])).toEqual(
      rows.map((r, i) => [r.id, i === 0 ? 'test.one' : 'test.two', r.hash, r.prev_hash, r.details]),
    );
  });

  it('never tells of an event whose transaction, or savepoint, rolled back', async () => {
    await expect(ctx.db.transaction(async () => {
        await recordEvent(ctx.db, 1000, { projectId: 1, actor: 'UA', action: 'test.lost' });
        throw new Error('use case failed');
      })).rejects.toThrow('use case failed');
    await ctx.db.transaction(async () => {
      await recordEvent(ctx.db, 1000, { projectId: 1, actor: 'UA', action: 'test.kept' });
      try {
        await ctx.db.transaction(async () => {
          await recordEvent(ctx.db, 1000, { projectId: 1, actor: 'UA', action: 'test.inner' });
          throw new Error('inner step failed');
        });
      } catch {
        // The outer use case goes on without the inner step.
      }
    });
    expect(seen.map((e) => e.action)).toEqual(['test.kept']);
    expect(await findBrokenLink(ctx.db)).toBeNull();
  });

  it('carries details redacted, as stored', async () => {
    await recordEvent(ctx.db, 1000, { projectId: 1, actor: 'UA', action: 'test.secret', details: { label: `jj_${'a'.repeat(32)}` } });
    expect(seen[0]!.details).toBe('{"label":"jj_[redacted]"}');
  });
});
