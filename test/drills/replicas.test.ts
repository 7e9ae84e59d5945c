/**
 * Drill: two replicas of the real bot (child processes) on one database, as
 * behind a load balancer (DESIGN section 14). On the `postgres` project the
 * database is one PostgreSQL database; on `sqlite` the same drills run on one
 * database file. Each replica reaches Slack through a gate of its own in
 * front of one FakeSlack, so every Slack call is known by the replica that
 * made it, and one replica's posts can be held mid-call.
 *
 * The first four drills share one pair of replicas, started once, as
 * replicas live for long: each drill uses approvals, keys and projects of its
 * own, and the SIGKILL drill comes last. The empty-database drill starts its
 * own pair.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { JOB_LEASE_MS } from '../../src/jobs/queue.ts';
import { freshDatabaseUrl, TEST_ENGINE } from '../helpers/engine.ts';
import { freshPostgres } from '../helpers/postgres.ts';
import { BOT_USER, FakeSlack, buttonsIn, type SlackCall } from '../helpers/slack.ts';
import { command, press, readiness, revealNewest, waitForButton, waitForCall, type LocalSlack } from './bot-flow.ts';
import { sleep, startBot, stopAllBots, type BotOptions, type BotProcess } from './bot-process.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';
/** Approvals channels of the projects of the each-card-once drill: Slack (and the product) pace posts per channel. */
const CHANNELS = [CHANNEL, 'C0APPROVALS1', 'C0APPROVALS2', 'C0APPROVALS3'];
const PROJECT = 'pay';
const MIGRATIONS = readdirSync(new URL('../../migrations/', import.meta.url))
  .filter((f) => /^\d{3}_[\w-]+\.ts$/.test(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

/**
 * One replica's way to Slack: answers every Web API call with the shared
 * FakeSlack, noting which replica made it; while `holdPosts` is set,
 * chat.postMessage is left unanswered (and never reaches Slack), as a post
 * in flight when its process dies.
 */
class SlackGate {
  holdPosts = false;
  /** Posts held unanswered: the answer never sent, and the request body. */
  readonly held: { res: ServerResponse; raw: string }[] = [];
  url = '';
  private readonly server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const method = (req.url ?? '').split('?')[0]!.replace(/^\/api\//, '');
      const raw = Buffer.concat(chunks).toString('utf8');
      if (this.holdPosts && method === 'chat.postMessage') {
        this.held.push({ res, raw });
        return;
      }
      this.pass(method, raw, res);
    });
  });

  private pass(method: string, raw: string, res: ServerResponse): void {
    const [status, body, headers] = this.fake.answer(method, raw);
    via.set(this.fake.calls.at(-1)!, this.name);
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  /** Stops holding, and lets the held posts reach Slack (their replica gets Slack's answer). */
  release(): void {
    this.holdPosts = false;
    for (const { res, raw } of this.held.splice(0)) if (!res.destroyed) this.pass('chat.postMessage', raw, res);
  }

  constructor(
    private readonly fake: FakeSlack,
    readonly name: string,
  ) {}

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The replica (gate name) that made each recorded Web API call. */
const via = new WeakMap<SlackCall, string>();

let dir: string;
let slack: LocalSlack;
let closeSlack: () => Promise<void>;
const gates: SlackGate[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jamjet-drill-replicas-'));
  // About Slack's pace per channel, see slack-drain; here the replicas are drilled, not the channel.
  const fake = new FakeSlack({ postsPerSecond: 50, burst: 50 }).addUser({ id: OWNER, email: 'owner@acme.test' });
  for (const id of CHANNELS) fake.addChannel({ id, members: [BOT_USER, OWNER] });
  const listening = await fake.listen();
  slack = { fake, url: listening.url };
  closeSlack = listening.close;
});

afterAll(async () => {
  await stopAllBots();
  await Promise.all(gates.splice(0).map((g) => g.close()));
  await closeSlack();
  rmSync(dir, { recursive: true, force: true });
});

/** Reads the replicas' database from outside, as an operator would with psql or sqlite3. */
async function query<T>(url: string, sql: string): Promise<T[]> {
  if (url.startsWith('sqlite:')) {
    const db = new BetterSqlite3(url.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return db.prepare(sql).all() as T[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A migrated database of the engine under test that both replicas open: a PostgreSQL database, or a file. */
async function sharedDatabase(): Promise<string> {
  return TEST_ENGINE === 'postgres' ? await freshDatabaseUrl() : `sqlite:${join(dir, 'jamjet.db')}`;
}

interface Replicas {
  readonly a: BotProcess;
  readonly b: BotProcess;
  readonly gateA: SlackGate;
  readonly gateB: SlackGate;
  readonly url: string;
}

/** Starts replicas A and B together on `url`, each behind its own Slack gate. */
async function startReplicas(url: string, options: Pick<BotOptions, 'movableClock'> = {}): Promise<Replicas> {
  const gateA = await new SlackGate(slack.fake, 'A').listen();
  const gateB = await new SlackGate(slack.fake, 'B').listen();
  gates.push(gateA, gateB);
  const [a, b] = await Promise.all([
    startBot({ name: 'A', slackUrl: gateA.url, databaseUrl: url, ...options }),
    startBot({ name: 'B', slackUrl: gateB.url, databaseUrl: url, ...options }),
  ]);
  return { a, b, gateA, gateB, url };
}

/** A project made on A with its approvals channel set on B; returns its first key, revealed on B. */
async function projectWithChannel({ a, b }: Replicas, project = PROJECT, channel = CHANNEL): Promise<string> {
  const from = slack.fake.calls.length;
  expect((await command(a, slack, OWNER, `projects create ${project}`)).text).toContain('created');
  const key = await revealNewest(b, slack, OWNER, from);
  expect((await command(b, slack, OWNER, `projects channel ${project} <#${channel}|approvals>`)).text).not.toContain(':warning:');
  return key;
}

/** `POST /v1/approvals` as an SDK would send it, waiting out a 429's Retry-After as the SDK does. */
async function createApproval(bot: BotProcess, key: string, action: string): Promise<string> {
  for (;;) {
    const res = await fetch(`${bot.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action, context: { via: bot.name } }),
    });
    const body = (await res.json()) as { id?: string };
    if (res.status === 429) {
      await sleep(Number(res.headers.get('retry-after') ?? 1) * 1000);
      continue;
    }
    expect(res.status, `${action} on ${bot.name}: ${JSON.stringify(body)}`).toBe(201);
    return body.id!;
  }
}

async function approvalStatus(bot: BotProcess, key: string, id: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${bot.url}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

/** Cards Slack accepted in an approvals channel for approval `id`. */
const cardsFor = (id: string) =>
  slack.fake
    .callsTo('chat.postMessage')
    .filter((c) => c.ok && CHANNELS.includes(String(c.body.channel)) && JSON.stringify(c.body.blocks ?? []).includes(id));

/**
 * Every card of `ids` posted exactly once; and the database agrees: one post
 * job each, done, claimed once (twice for those in `reclaimed`: taken back
 * from a dead worker), and one card row each.
 */
async function expectEachCardOnce(url: string, ids: readonly string[], reclaimed: readonly string[] = []): Promise<void> {
  for (const id of ids) expect(cardsFor(id), id).toHaveLength(1);
  const wanted = new Set(ids);
  const posts = (
    await query<{ status: string; attempts: number; payload: string }>(url, "SELECT status, attempts, payload FROM jobs WHERE kind = 'approval.post'")
  )
    .map((p) => ({ approval: (JSON.parse(p.payload) as { approval: string }).approval, status: p.status, attempts: Number(p.attempts) }))
    .filter((p) => wanted.has(p.approval))
    .sort((x, y) => x.approval.localeCompare(y.approval));
  // A claim counts an attempt (waiting for Slack's pace does not): two claims of one job are two attempts.
  const expected = [...ids].sort().map((approval) => ({ approval, status: 'done', attempts: reclaimed.includes(approval) ? 2 : 1 }));
  expect(posts).toEqual(expected);
  const cards = (await query<{ approval_id: string }>(url, 'SELECT approval_id FROM approval_cards')).filter((c) => wanted.has(c.approval_id));
  expect(cards.map((c) => c.approval_id).sort()).toEqual([...ids].sort());
}

/** The running post jobs of `ids`: the approval each posts, and the worker (queue) holding its lease. */
async function runningPosts(url: string, ids: readonly string[]): Promise<{ approval: string; worker: string }[]> {
  const rows = await query<{ locked_by: string; payload: string }>(url, "SELECT locked_by, payload FROM jobs WHERE kind = 'approval.post' AND status = 'running'");
  return rows
    .map((r) => ({ approval: (JSON.parse(r.payload) as { approval: string }).approval, worker: r.locked_by }))
    .filter((r) => ids.includes(r.approval))
    .sort((x, y) => x.approval.localeCompare(y.approval));
}

function expectNoErrors(...bots: BotProcess[]): void {
  for (const bot of bots) expect(bot.errors(), bot.describe()).toEqual([]);
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

describe(`two replicas on one ${TEST_ENGINE === 'postgres' ? 'PostgreSQL database' : 'SQLite file'}`, () => {
  let replicas: Replicas;
  /** The first key of PROJECT, whose approvals go to CHANNEL. */
  let key: string;
  /** Keys of four more projects, one per channel of CHANNELS: Slack (and the product) pace posts per channel. */
  const teamKeys: string[] = [];

  beforeAll(async () => {
    replicas = await startReplicas(await sharedDatabase(), { movableClock: true });
    key = await projectWithChannel(replicas);
    for (const [i, channel] of CHANNELS.entries()) teamKeys.push(await projectWithChannel(replicas, `team${i}`, channel));
  }, 60_000);
  afterAll(async () => {
    // The next drill starts a pair of its own; these must not run beside it.
    await Promise.all([replicas?.a.kill(), replicas?.b.kill()]);
  });

  it('a decision pressed through one replica is what the other answers at once', async () => {
    const { a, b } = replicas;

    for (const [decider, reader] of [
      [a, b],
      [b, a],
    ] as const) {
      const id = await createApproval(reader, key, `deploy through ${reader.name}, decided on ${decider.name}`);
      const card = await waitForCall(slack, 0, (c) => c.method === 'chat.postMessage' && c.ok === true && JSON.stringify(c.body.blocks ?? []).includes(id));
      // The reader has answered (and may remember) pending before the decision.
      expect(await approvalStatus(reader, key, id)).toMatchObject({ id, status: 'pending' });
      expect(await approvalStatus(decider, key, id)).toMatchObject({ id, status: 'pending' });

      const approve = buttonsIn(card).find((button) => button.actionId === 'approval_approve');
      expect(approve?.value).toBe(id);
      const from = slack.fake.calls.length;
      await press(decider, slack, OWNER, 'approval_approve', approve!.value, CHANNEL);
      // The card edited to the outcome: the decision has committed. The other replica answers it on its first read.
      await waitForCall(slack, from, (c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks ?? []).includes('Approved'));
      expect(await approvalStatus(reader, key, id)).toMatchObject({ id, status: 'approved', decided_by: OWNER });
    }

    // One card pressed on both replicas at the same moment: one decision, and both answer it.
    const id = await createApproval(a, key, 'pressed twice');
    await vi.waitFor(() => expect(cardsFor(id)).toHaveLength(1), { timeout: 10_000, interval: 25 });
    const from = slack.fake.calls.length;
    await Promise.all([press(a, slack, OWNER, 'approval_approve', id, CHANNEL), press(b, slack, OWNER, 'approval_approve', id, CHANNEL)]);
    await waitForCall(slack, from, (c) => c.method === 'chat.update' && JSON.stringify(c.body.blocks ?? []).includes('Approved'));
    for (const bot of [a, b]) expect(await approvalStatus(bot, key, id)).toMatchObject({ status: 'approved', decided_by: OWNER });
    const decided = await query<{ n: number | string }>(
      replicas.url,
      `SELECT count(*) AS n FROM audit_events WHERE action = 'approval.approved' AND details LIKE '%${id}%'`,
    );
    expect(Number(decided[0]!.n)).toBe(1);
    expectNoErrors(a, b);
  }, 60_000);

  it('a key revoked through one replica is refused by the other within a second', async () => {
    const { a, b, url } = replicas;
    const keep = key;
    const ROUNDS = 8;
    /** From the revocation's own time (revoked_at, written by the revoking replica) to the other's first 401. */
    const delays: number[] = [];
    /** From sending the revoke command to the other's first 401: an upper bound that includes Slack's round trip. */
    const bounds: number[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      const [revoker, checker] = round % 2 === 0 ? [b, a] : [a, b];
      const from = slack.fake.calls.length;
      expect((await command(revoker, slack, OWNER, `keys create ${PROJECT} --name r${round}`)).text).not.toContain(':warning:');
      await waitForButton(slack, OWNER, 'key_reveal', from);
      const key = await revealNewest(checker, slack, OWNER, from);
      // Both replicas have accepted (and may remember) the key.
      for (const bot of [a, b]) expect((await readiness(bot, PROJECT, key)).status).toBe(200);
      const [row] = await query<{ public_id: string }>(url, `SELECT public_id FROM api_keys WHERE name = 'r${round}'`);

      // The checker asks as fast as it answers while the revoker revokes.
      let refusedAt = 0;
      let stop = false;
      const watching = (async () => {
        while (!stop) {
          const res = await readiness(checker, PROJECT, key);
          if (res.status === 401) {
            refusedAt = Date.now();
            return;
          }
          expect(res.status).toBe(200);
        }
      })();
      const sentAt = Date.now();
      const revoked = await command(revoker, slack, OWNER, `keys revoke ${PROJECT} ${row!.public_id}`);
      expect(revoked.text).toContain('is revoked');
      const timeout = setTimeout(() => (stop = true), 5000);
      await watching;
      clearTimeout(timeout);
      expect(refusedAt, `${checker.name} still accepts a key revoked on ${revoker.name} after 5 s`).toBeGreaterThan(0);
      const [{ revoked_at }] = (await query<{ revoked_at: number | string }>(url, `SELECT revoked_at FROM api_keys WHERE name = 'r${round}'`)) as [
        { revoked_at: number | string },
      ];
      delays.push(Math.max(0, refusedAt - Number(revoked_at)));
      bounds.push(refusedAt - sentAt);
      // The revoker refuses it too, and the project's other key still works on both.
      expect((await readiness(revoker, PROJECT, key)).status).toBe(401);
      for (const bot of [a, b]) expect((await readiness(bot, PROJECT, keep)).status).toBe(200);
    }

    const sorted = [...delays].sort((x, y) => x - y);
    const summary = {
      engine: TEST_ENGINE,
      rounds: ROUNDS,
      delayMs: { min: sorted[0], median: percentile(sorted, 50), p90: percentile(sorted, 90), max: sorted.at(-1) },
      commandToRefusalMs: { median: percentile([...bounds].sort((x, y) => x - y), 50), max: Math.max(...bounds) },
    };
    console.info(`revocation across replicas: ${JSON.stringify(summary)}`);
    expect(Math.max(...delays), JSON.stringify(summary)).toBeLessThan(1000);
    expect(Math.max(...bounds), JSON.stringify(summary)).toBeLessThan(1000);
    expectNoErrors(a, b);
  }, 60_000);

  it('many approvals through both replicas, both job pollers running: every card posted exactly once', async () => {
    const { a, b, url } = replicas;
    const keys = teamKeys;
    const APPROVALS = 48;

    const ids = await Promise.all(
      Array.from({ length: APPROVALS }, (_, i) => createApproval(i % 2 ? b : a, keys[i % keys.length]!, `deploy ${i}`)),
    );
    expect(new Set(ids).size).toBe(APPROVALS);
    await vi.waitFor(() => expect(ids.filter((id) => cardsFor(id).length === 0)).toEqual([]), { timeout: 30_000, interval: 50 });
    // Several more polls of both queues (JOBS_POLL_SECONDS=1) post nothing more.
    await sleep(2500);
    await expectEachCardOnce(url, ids);
    const posters = new Set(ids.map((id) => via.get(cardsFor(id)[0]!)));
    console.info(`cards posted by: ${JSON.stringify(Object.fromEntries(['A', 'B'].map((n) => [n, ids.filter((id) => via.get(cardsFor(id)[0]!) === n).length])))}`);
    expect(posters.size).toBeGreaterThan(0);
    expectNoErrors(a, b);
  }, 60_000);

  it('a replica killed with posts in flight: the other finishes them once its lease ends, nothing lost or doubled', async () => {
    const { a, b, gateA, gateB, url } = replicas;
    const APPROVALS = 12;
    const keyOf = (i: number) => teamKeys[i % teamKeys.length]!;

    // Both replicas' posts to Slack hang. B, stuck on its first post, leaves the
    // rest due; A's next poll claims a batch of them, and hangs on its first.
    gateA.holdPosts = true;
    gateB.holdPosts = true;
    const ids = [await createApproval(b, keyOf(0), 'deploy 0')];
    await vi.waitFor(() => expect(gateA.held.length + gateB.held.length).toBeGreaterThan(0), { timeout: 10_000, interval: 25 });
    ids.push(...(await Promise.all(Array.from({ length: APPROVALS - 1 }, (_, i) => createApproval(b, keyOf(i + 1), `deploy ${i + 1}`)))));
    await vi.waitFor(() => expect(gateA.held.length).toBeGreaterThan(0), { timeout: 10_000, interval: 25 });
    await a.kill();
    gateB.release();
    const killedAt = Date.now();
    const unposted = ids.filter((id) => cardsFor(id).length === 0);

    // The card A was posting when it died tells A's worker; every job A holds has that worker's lease.
    const posting = ids.filter((id) => gateA.held.some((h) => h.raw.includes(id)));
    expect(posting.length).toBeGreaterThan(0);
    const aWorker = (await runningPosts(url, ids)).find((job) => job.approval === posting[0])?.worker;
    expect(aWorker, 'the post A was making is a running job leased to A').toBeDefined();
    const heldByA = (await runningPosts(url, ids)).filter((job) => job.worker === aWorker).map((job) => job.approval);
    console.info(`at the kill: ${unposted.length} of ${APPROVALS} cards not posted; ${heldByA.length} post jobs leased to the dead replica`);

    // B posts every other card; A's jobs wait for their lease (A might only be slow), however often B polls.
    await vi.waitFor(() => expect(ids.filter((id) => cardsFor(id).length === 0).sort()).toEqual([...heldByA].sort()), { timeout: 15_000, interval: 50 });
    await sleep(Math.max(0, killedAt + 2500 - Date.now()));
    expect(ids.filter((id) => cardsFor(id).length === 0).sort()).toEqual([...heldByA].sort());
    expect((await runningPosts(url, ids)).filter((job) => job.worker === aWorker).map((job) => job.approval)).toEqual(heldByA);

    // Time passes for B past the lease: B takes the dead replica's jobs back and posts every card, once.
    await b.advanceClock(JOB_LEASE_MS + 1000);
    await vi.waitFor(() => expect(ids.filter((id) => cardsFor(id).length === 0)).toEqual([]), { timeout: 15_000, interval: 50 });
    await sleep(2500);
    await expectEachCardOnce(url, ids, heldByA);
    for (const id of unposted) expect(via.get(cardsFor(id)[0]!), id).toBe('B');
    expect(await approvalStatus(b, teamKeys[0]!, ids[0]!)).toMatchObject({ status: 'pending' });
    expectNoErrors(b);
  }, 60_000);
});

describe(`two replicas starting at once on an empty ${TEST_ENGINE === 'postgres' ? 'PostgreSQL database' : 'SQLite file'}`, () => {
  it('both come up, and each migration is applied once', async () => {
    const empty = TEST_ENGINE === 'postgres' ? await freshPostgres() : null;
    const fresh: BotProcess[] = [];
    try {
      const url = empty?.url ?? `sqlite:${join(dir, 'empty.db')}`;
      const { a, b } = await startReplicas(url);
      fresh.push(a, b);

      const applied = [a, b].flatMap((bot) => bot.logs.filter((l) => l.msg === 'database migrated').flatMap((l) => l.applied as string[]));
      expect(applied.sort()).toEqual(MIGRATIONS);
      const recorded = await query<{ name: string }>(url, 'SELECT name FROM kysely_migration ORDER BY name');
      expect(recorded.map((r) => r.name)).toEqual(MIGRATIONS);

      // Both serve: a project made through one is known to the other.
      const from = slack.fake.calls.length;
      expect((await command(b, slack, OWNER, `projects create ${PROJECT}`)).text).toContain('created');
      const key = await revealNewest(a, slack, OWNER, from);
      for (const bot of [a, b]) expect((await readiness(bot, PROJECT, key)).status).toBe(200);
      expectNoErrors(a, b);
    } finally {
      await Promise.all(fresh.map((bot) => bot.kill()));
      await empty?.drop();
    }
  }, 60_000);
});
