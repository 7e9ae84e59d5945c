/**
 * Attacks on the async database layer as a second replica and as concurrent
 * requests in one process, on the engine under test: what the engines must
 * answer alike, jobs claimed once across replicas, and transactions that
 * must not report a commit that did not happen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/database.ts';
import { openPostgres } from '../../src/db/postgres.ts';
import { JobQueue, RetryLater } from '../../src/jobs/queue.ts';
import { channelScope, SlackPacer } from '../../src/jobs/slack-pace.ts';
import { createLogger } from '../../src/logger.ts';
import { findLiveProject } from '../../src/services/access.ts';
import { reminderRecipients } from '../../src/services/rotation-endings.ts';
import type { Rotation } from '../../src/services/rotations.ts';
import { LIMITS } from '../../src/core/limits.ts';
import { createApproval, decideApproval } from '../../src/services/approvals.ts';
import { authenticateKey } from '../../src/services/key-auth.ts';
import { beginReveal } from '../../src/services/deliveries.ts';
import { createKey, issueKey, revokeKey } from '../../src/services/keys.ts';
import { InviteClaimer } from '../../src/slack/invites.ts';
import type { SlackUser } from '../../src/slack/surface.ts';
import { addMember, addPendingInvite, changeRole, removeMember, rolesOf } from '../../src/services/members.ts';
import { createProjects, listProjects, projectInfo } from '../../src/services/projects.ts';
import { testContext, testSqliteDb, user } from '../helpers/db.ts';
import { freshDatabaseUrl, TEST_ENGINE } from '../helpers/engine.ts';

const START = Date.UTC(2026, 10, 29, 12, 0, 0);
const quiet = createLogger('error', () => {});

let opened: Db[] = [];
let folder: string | undefined;
afterEach(async () => {
  await Promise.all([...new Set(opened)].map((db) => db.close()));
  opened = [];
  if (folder) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

/** Two replicas on one fresh, migrated database (SQLite: two connections to one file; PostgreSQL: two pools). */
async function twoReplicas(): Promise<[Db, Db]> {
  let dbs: [Db, Db];
  if (TEST_ENGINE === 'sqlite') {
    folder = mkdtempSync(join(tmpdir(), 'jamjet-replicas-'));
    const file = join(folder, 'jamjet.db');
    dbs = [await testSqliteDb(file), openDb(file)];
  } else {
    const url = await freshDatabaseUrl();
    dbs = [await openPostgres(url, { poolSize: 4 }), await openPostgres(url, { poolSize: 4 })];
  }
  opened.push(...dbs);
  return dbs;
}

describe('transactions', () => {
  // On PostgreSQL a statement that fails aborts the whole transaction; when
  // the use case catches that failure and returns, COMMIT is answered with
  // ROLLBACK (no error). The engine checks the COMMIT's answer and throws,
  // so nobody is told a commit happened while every earlier write is gone.
  it('never reports a commit when a caught failing statement made the database discard the transaction', async () => {
    const db = (await twoReplicas())[0];
    await db.raw('CREATE TABLE probe (id integer PRIMARY KEY)');
    const outcome = await db
      .transaction(async () => {
        await db.raw('INSERT INTO probe (id) VALUES (?)', [1]);
        try {
          await db.raw('INSERT INTO probe (id) VALUES (?)', [1]);
        } catch {
          // a use case deciding the duplicate does not matter
        }
        return 'committed';
      })
      .catch(() => 'refused');
    const rows = await db.raw('SELECT id FROM probe');
    // Either the caller is told, or what it wrote is there.
    expect(outcome === 'refused' || rows.length === 1).toBe(true);
  });

  it('a failing statement inside a nested transaction leaves the outer one whole on both engines', async () => {
    const db = (await twoReplicas())[0];
    await db.raw('CREATE TABLE probe (id integer PRIMARY KEY)');
    await db.transaction(async () => {
      await db.raw('INSERT INTO probe (id) VALUES (?)', [7]);
      await db.transaction(async () => await db.raw('INSERT INTO probe (id) VALUES (?)', [7])).catch(() => undefined);
      await db.raw('INSERT INTO probe (id) VALUES (?)', [8]);
    });
    expect((await db.raw<{ id: number }>('SELECT id FROM probe ORDER BY id')).map((r) => r.id)).toEqual([7, 8]);
  });
});

describe('jobs across replicas', () => {
  // SQLite: two queues of one process on one connection (two connections to
  // one file in one process would block each other's event loop in BEGIN
  // IMMEDIATE; replicas on SQLite are separate processes). PostgreSQL: two replicas.
  it('two workers claiming at once take every due job exactly once', async () => {
    const [a, other] = await twoReplicas();
    const b = TEST_ENGINE === 'sqlite' ? a : other;
    const now = () => START;
    const first = new JobQueue(a, now, quiet, { batchSize: 7 });
    const second = new JobQueue(b, now, quiet, { batchSize: 7 });
    for (let i = 0; i < 120; i++) await first.enqueue('probe', { n: i }, START - 1000 + (i % 5));
    const taken: number[] = [];
    const claimAll = async (queue: JobQueue): Promise<void> => {
      for (;;) {
        const jobs = await queue.claimDue();
        if (jobs.length === 0) return;
        taken.push(...jobs.map((j) => j.id));
      }
    };
    await Promise.all([claimAll(first), claimAll(second), claimAll(first), claimAll(second)]);
    expect(taken.length).toBe(120);
    expect(new Set(taken).size).toBe(120);
  });
});

describe('job leases', () => {
  // A handler still running when its first lease would end (a Slack or
  // GitHub call hanging) keeps the job: its worker renews the lease while it
  // runs, so the other replica's claim does not run it a second time.
  it('a job whose handler is still running when its lease would have ended is not run again by another replica', async () => {
    const [a, other] = await twoReplicas();
    const b = TEST_ENGINE === 'sqlite' ? a : other;
    // The clock moves with real time: the lease is renewed by a timer.
    const began = Date.now();
    const now = () => START + (Date.now() - began);
    // Renewed every third of the lease: a lease of 1 s leaves each renewal about 650 ms of a busy machine's delay
    // (300 ms left 200 ms, which a loaded run can exceed, and the other replica then rightly took the job).
    const LEASE = 1_000;
    const first = new JobQueue(a, now, quiet, { leaseMs: LEASE });
    const second = new JobQueue(b, now, quiet, { leaseMs: LEASE });
    const runs: string[] = [];
    let release!: () => void;
    const hanging = new Promise<void>((resolve) => (release = resolve));
    first.register('post-card', async () => {
      runs.push('first');
      await hanging;
    });
    second.register('post-card', async () => {
      runs.push('second');
    });
    await first.enqueue('post-card', { approval: 'x' }, START);
    const running = first.runDue();
    while (runs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // Three leases' worth of time: the other replica looks for due work all along.
    while (Date.now() - began < 3 * LEASE) {
      await second.runDue();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    release();
    await running;
    expect(runs).toEqual(['first']);
  });
});

describe('answers alike on both engines', () => {
  // Owners who became members in the same millisecond (one clock tick: a
  // project made with two Owners, an import) are ordered by when they were
  // added; PostgreSQL returns equal sort keys in physical order, which an
  // UPDATE of the row changes, so without a tiebreak the engines disagree.
  // A production PostgreSQL usually sorts text by a language's collation
  // (en_US.UTF-8), which ignores punctuation: `ab` before `a-z`, where SQLite
  // sorts bytes. The test server uses C, so the column is given one here.
  it('lists projects in the same order on both engines, whatever collation the database was created with', async () => {
    const ctx = await testContext(START);
    opened.push(ctx.db);
    if (ctx.db.engine === 'postgres') {
      // ICU's English with punctuation ignored, as glibc's en_US.UTF-8 sorts.
      await ctx.db.raw(`CREATE COLLATION IF NOT EXISTS en_like_glibc (provider = icu, locale = 'en-US-u-ka-shifted')`);
      await ctx.db.raw('ALTER TABLE projects ALTER COLUMN name TYPE text COLLATE en_like_glibc');
    }
    const owner = user('UOWNER');
    for (const name of ['ab', 'a-z', 'a1']) await createProjects(ctx, owner, name, null);
    const expected = ['a-z', 'a1', 'ab'];
    expect((await listProjects(ctx, owner)).map((p) => p.project.name)).toEqual(expected);
    // Cached, then through the workspace admins' query and the roles of one person.
    expect((await listProjects(ctx, owner)).map((p) => p.project.name)).toEqual(expected);
    expect((await listProjects(ctx, user('URESCUE', true))).map((p) => p.project.name)).toEqual(expected);
    expect((await rolesOf(ctx, owner.userId)).map((r) => r.project)).toEqual(expected);
  });

  it('lists Owners who joined in the same millisecond in the order they were added, after a role change', async () => {
    const ctx = await testContext(START);
    opened.push(ctx.db);
    const first = user('UZED');
    const second = user('UAMY');
    await createProjects(ctx, first, 'payments', null);
    await addMember(ctx, first, 'payments', second.userId, 'owner');
    await addMember(ctx, first, 'payments', 'UMID', 'owner');
    // UZED (the first) steps down and is made Owner again: their row is rewritten.
    expect((await changeRole(ctx, second, 'payments', first.userId, 'admin')).ok).toBe(true);
    expect((await changeRole(ctx, second, 'payments', first.userId, 'owner')).ok).toBe(true);
    const info = await projectInfo(ctx, first, 'payments');
    expect(info.ok && info.value.owners).toEqual(['UZED', 'UAMY', 'UMID']);
    // A rotation whose requester may no longer manage keys reminds the longest-standing Owner first.
    const project = (await findLiveProject(ctx.db, 'payments'))!;
    const rotation = { projectId: project.id, requestedBy: 'UGONE' } as Rotation;
    expect(await reminderRecipients(ctx.db, rotation)).toEqual(['UZED', 'UAMY', 'UMID']);
  });
});

describe('Slack pacing across replicas', () => {
  // The slot a job is told to come back at travels with the job (in the
  // database), not in the memory of the replica that gave it: otherwise the
  // other replica, running the job at that moment, takes a second slot and
  // the first goes unused.
  it('a job told to come back at its slot posts in that slot when another replica runs it', async () => {
    const ctx = await testContext(START);
    opened.push(ctx.db);
    const replicaA = new SlackPacer(ctx.db, ctx.now, quiet);
    const replicaB = new SlackPacer(ctx.db, ctx.now, quiet);
    const scope = channelScope('CAPPROVALS');
    const posted: string[] = [];
    await replicaA.call(1, scope, async () => posted.push('card 1'));
    const told = await replicaA.call(2, scope, async () => posted.push('card 2')).catch((error: unknown) => error);
    expect(told).toBeInstanceOf(RetryLater);
    ctx.advance((told as RetryLater).retryAfterMs);
    // The queue runs job 2 again at its slot, this time on the other replica.
    await replicaB.call(2, scope, async () => posted.push('card 2'));
    expect(posted).toEqual(['card 1', 'card 2']);
  });
});

describe('decisions and revocations across replicas', () => {
  /** Two replicas with a project `payments` owned by UOWNER (also Owner: UOTHER) and one API key. */
  async function project() {
    // SQLite replicas are separate processes; in this one, two connections would block each other's event loop.
    const replicas = await twoReplicas();
    const dbs: [Db, Db] = TEST_ENGINE === 'sqlite' ? [replicas[0], replicas[0]] : replicas;
    const clock = { now: START };
    const contexts = dbs.map((db) => ({ db, now: () => clock.now, jobs: new JobQueue(db, () => clock.now, quiet) }));
    const [a] = contexts;
    await createProjects(a!, user('UOWNER'), 'payments', null);
    await addMember(a!, user('UOWNER'), 'payments', 'UOTHER', 'owner');
    const issued = await issueKey(dbs[0], START, (await findLiveProject(dbs[0], 'payments'))!, 'ci', 'UOWNER');
    return { dbs, contexts: contexts as [(typeof contexts)[0], (typeof contexts)[0]], issued };
  }

  it('two Owners deciding one request at once through two replicas: exactly one decision wins', async () => {
    const { dbs, contexts, issued } = await project();
    const identity = (await authenticateKey(dbs[0], issued.plaintext))!;
    const created = await createApproval(contexts[0], identity, 'deploy', {});
    expect(created.ok).toBe(true);
    const id = created.ok ? created.value.id : '';
    const results = await Promise.all([
      decideApproval(contexts[0], user('UOWNER'), id, 'approved', null),
      decideApproval(contexts[1], user('UOTHER'), id, 'rejected', null),
      decideApproval(contexts[1], user('UOWNER'), id, 'rejected', null),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok && r.error.code === 'already_done')).toHaveLength(2);
    const audit = await dbs[1].raw<{ n: number }>("SELECT count(*) AS n FROM audit_events WHERE action IN ('approval.approved', 'approval.rejected')");
    expect(Number(audit[0]!.n)).toBe(1);
  });

  it('requests sent through two replicas at once never pass the per-key bound', async () => {
    const { dbs, contexts, issued } = await project();
    const identity = (await authenticateKey(dbs[0], issued.plaintext))!;
    const bound = LIMITS.pendingApprovalsPerKey;
    const results = await Promise.all(
      Array.from({ length: bound + 20 }, (_, i) => createApproval(contexts[i % 2]!, identity, `deploy ${i}`, {})),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(bound);
    const pending = await dbs[0].raw<{ n: number }>("SELECT count(*) AS n FROM approvals WHERE status = 'pending'");
    expect(Number(pending[0]!.n)).toBe(bound);
  });

  it('two Owners removing each other and stepping down through two replicas at once leave one Owner', async () => {
    const { dbs, contexts } = await project();
    await Promise.all([
      removeMember(contexts[0], user('UOWNER'), 'payments', 'UOTHER'),
      removeMember(contexts[1], user('UOTHER'), 'payments', 'UOWNER'),
      changeRole(contexts[1], user('UOWNER'), 'payments', 'UOWNER', 'member'),
      changeRole(contexts[0], user('UOTHER'), 'payments', 'UOTHER', 'member'),
    ]);
    const owners = await dbs[1].raw<{ n: number }>("SELECT count(*) AS n FROM memberships WHERE role = 'owner'");
    expect(Number(owners[0]!.n)).toBe(1);
  });

  it('a key revoked through one replica is refused by the other within a second, after it had been remembered', async () => {
    const { dbs, contexts, issued } = await project();
    // The other replica has checked the key (and remembers it).
    expect(await authenticateKey(dbs[1], issued.plaintext)).not.toBeNull();
    expect(await authenticateKey(dbs[1], issued.plaintext)).not.toBeNull();
    const revoked = await revokeKey(contexts[0], user('UOWNER'), 'payments', issued.key.publicId);
    expect(revoked.ok).toBe(true);
    const started = Date.now();
    while ((await authenticateKey(dbs[1], issued.plaintext)) !== null) {
      expect(Date.now() - started).toBeLessThan(1000);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });

  it('the key bound and reveal-once hold when the same person presses through two replicas at once', async () => {
    const { dbs, contexts } = await project();
    const owner = user('UOWNER');
    // Creations through both replicas at once stop at the project's bound of active keys.
    const before = Number((await dbs[0].raw<{ n: number }>('SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL'))[0]!.n);
    const created = await Promise.all(Array.from({ length: LIMITS.activeKeysPerProject + 4 }, (_, i) => createKey(contexts[i % 2]!, owner, 'payments', `ci ${i}`)));
    expect(created.filter((r) => r.ok)).toHaveLength(LIMITS.activeKeysPerProject - before);
    const active = await dbs[1].raw<{ n: number }>('SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL');
    expect(Number(active[0]!.n)).toBe(LIMITS.activeKeysPerProject);
    // One delivery revealed by double presses landing on both replicas: shown once.
    const ticket = created.find((r) => r.ok)!;
    if (!ticket.ok) throw new Error('unreachable');
    const presses = await Promise.all([0, 1, 0, 1].map((i) => beginReveal(contexts[i]!, ticket.value.ticket, owner)));
    expect(presses.filter((p) => p.ok)).toHaveLength(1);
    const shown = presses.find((p) => p.ok)!;
    expect(shown.ok && shown.value.plaintext).toMatch(/^jj_[0-9a-f]{32}$/);
  });
});

describe('invitations', () => {
  // The claimer remembered a person as checked before their invitations were
  // claimed, so a claim that failed (the database briefly unreachable, as a
  // PostgreSQL failover does) was never tried again until someone else was invited.
  it('a claim that failed is tried again at the person\'s next command', async () => {
    const ctx = await testContext(START);
    opened.push(ctx.db);
    const owner = user('UOWNER');
    await createProjects(ctx, owner, 'payments', null);
    expect((await addPendingInvite(ctx, owner, 'payments', 'new@example.com', 'member')).ok).toBe(true);
    let failNext = true;
    const flaky = new Proxy(ctx.db, {
      get(target, property, receiver) {
        if (property === 'transaction' && failNext) {
          failNext = false;
          return () => Promise.reject(new Error('Connection terminated unexpectedly'));
        }
        const value = Reflect.get(target, property, receiver) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const person = { id: 'UNEW', email: 'new@example.com', isBot: false, deleted: false, isGuest: false } as SlackUser;
    const directory = { getUser: async () => person, lookupByEmail: async () => person };
    const claimer = new InviteClaimer({ ...ctx, db: flaky }, directory, quiet);
    expect(await claimer.claimFor('UNEW')).toEqual([]);
    expect(await claimer.claimFor('UNEW')).toEqual([{ project: 'payments', role: 'member' }]);
  });
});
