/**
 * Drill: two bots on one database file at the same time, as during a deploy
 * overlap. Both take slash commands, both serve the SDK API, both run their
 * job queues: no job may run twice, no command may fail on a locked database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDb } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { findBrokenLink } from '../../src/services/audit.ts';
import { BOT_USER, FakeSlack, buttonsIn } from '../helpers/slack.ts';
import { command, KEY, press, readiness, revealNewest, waitForButton, type LocalSlack } from './bot-flow.ts';
import { sleep, startBot, stopAllBots, type BotProcess } from './bot-process.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';
// The one key's burst: both processes take from the same bucket (src/services/rate-limits.ts).
const APPROVALS = 20;
const PROJECTS = 30;
const LOCKED = /SQLITE_BUSY|database is locked/i;

let dir: string;
let slack: LocalSlack;
let closeSlack: () => Promise<void>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jamjet-drill-two-'));
  // This drill is about two processes sharing one database; Slack's per-channel pace is drilled in slack-drain.
  const fake = new FakeSlack({ postsPerSecond: 50, burst: 50 })
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  const listening = await fake.listen();
  slack = { fake, url: listening.url };
  closeSlack = listening.close;
});

afterEach(async () => {
  await stopAllBots();
  await closeSlack();
  rmSync(dir, { recursive: true, force: true });
});

function query<T>(file: string, sql: string): T[] {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

async function createApproval(bot: BotProcess, key: string, action: string) {
  const res = await fetch(`${bot.url}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action, context: { via: bot.name } }),
  });
  return { status: res.status, body: (await res.json()) as { id?: string; error?: unknown } };
}

const cardsFor = (id: string) =>
  slack.fake.callsTo('chat.postMessage').filter((c) => c.ok && c.body.channel === CHANNEL && JSON.stringify(c.body.blocks ?? []).includes(id));

describe('two processes on one database file', () => {
  it('share commands, the SDK API and the job queue without running a job twice or hitting a locked database', async () => {
    const file = join(dir, 'jamjet.db');
    // The new process starts while the old one runs (starting both at once on
    // a fresh file is the migration race drilled below).
    const a = await startBot({ name: 'A', slackUrl: slack.url, databaseFile: file });
    const b = await startBot({ name: 'B', slackUrl: slack.url, databaseFile: file });

    // A project made on A, its key revealed by a button press that reaches B.
    expect((await command(a, slack, OWNER, 'projects create pay')).text).toContain('created');
    const key = await revealNewest(b, slack, OWNER);
    expect((await command(b, slack, OWNER, `projects channel pay <#${CHANNEL}|approvals>`)).text).not.toContain(':warning:');

    // Everything at once, alternating between the two processes.
    const bots = [a, b];
    const approvals = Array.from({ length: APPROVALS }, (_, i) => createApproval(bots[i % 2]!, key, `deploy ${i}`));
    const commands = Array.from({ length: PROJECTS }, (_, i) => command(bots[i % 2]!, slack, OWNER, `projects create d${i}`));
    const whoami = Array.from({ length: 10 }, (_, i) => command(bots[i % 2]!, slack, OWNER, 'whoami'));
    // The same name on both at the same moment: exactly one wins.
    const race = [command(a, slack, OWNER, 'projects create same'), command(b, slack, OWNER, 'projects create same')];
    const [created, replies, whoamis, raced] = await Promise.all([
      Promise.all(approvals),
      Promise.all(commands),
      Promise.all(whoami),
      Promise.all(race),
    ]);

    expect(created.map((c) => c.status)).toEqual(Array(APPROVALS).fill(201));
    const ids = created.map((c) => c.body.id!);
    expect(new Set(ids).size).toBe(APPROVALS);
    for (const reply of [...replies, ...whoamis, ...raced]) {
      expect(reply.text).not.toMatch(LOCKED);
      expect(reply.text).not.toMatch(/Something went wrong|Part of that command failed/);
    }
    replies.forEach((reply, i) => expect(reply.text).toContain(`\`d${i}\` created`));
    for (const reply of whoamis) expect(reply.text).toContain('`pay`: Owner');
    expect(raced.filter((r) => r.text.includes('created'))).toHaveLength(1);
    expect(raced.filter((r) => r.text.includes('already exists'))).toHaveLength(1);

    // Both queues run (JOBS_POLL_SECONDS=1 plus a kick per request): every card lands, once,
    // at Slack's pace of about one post a second to the channel.
    await vi.waitFor(() => expect(ids.filter((id) => cardsFor(id).length === 0)).toEqual([]), { timeout: 45_000, interval: 50 });
    // A few more polls of both queues change nothing.
    await sleep(2500);
    for (const id of ids) expect(cardsFor(id), id).toHaveLength(1);
    const posts = query<{ status: string; attempts: number }>(file, "SELECT status, attempts FROM jobs WHERE kind = 'approval.post'");
    expect(posts).toHaveLength(APPROVALS);
    expect(posts.every((p) => p.status === 'done' && p.attempts === 1)).toBe(true);
    expect(query(file, 'SELECT approval_id FROM approval_cards GROUP BY approval_id HAVING count(*) > 1')).toEqual([]);

    // Each new project's key went out by DM exactly once.
    const reveals = slack.fake
      .callsTo('chat.postMessage')
      .filter((c) => c.body.channel === OWNER && buttonsIn(c).some((button) => button.actionId === 'key_reveal'));
    expect(reveals).toHaveLength(1 + PROJECTS + 1);
    expect(new Set(reveals.map((c) => buttonsIn(c)[0]!.value)).size).toBe(reveals.length);

    // The audit chain stayed one chain while two writers appended to it.
    const db = openDb(file);
    try {
      expect(await findBrokenLink(db)).toBeNull();
    } finally {
      await db.close();
    }

    // One Reveal button pressed on both processes at the same moment: the key is shown once.
    let from = slack.fake.calls.length;
    await command(a, slack, OWNER, 'keys create pay --name ci');
    const { value } = await waitForButton(slack, OWNER, 'key_reveal', from);
    from = slack.fake.calls.length;
    await Promise.all(bots.map((bot) => press(bot, slack, OWNER, 'key_reveal', value)));
    await vi.waitFor(() => expect(slack.fake.calls.slice(from).filter((c) => c.method === 'response_url')).toHaveLength(2), { timeout: 10_000 });
    const shown = slack.fake.calls.slice(from).filter((c) => c.method === 'views.open' && KEY.test(JSON.stringify(c.body.view)));
    expect(shown).toHaveLength(1);
    const ciKey = JSON.stringify(shown[0]!.body.view).match(KEY)![0];

    // A key revoked through one process is refused by the other at the next request.
    for (const bot of bots) expect((await readiness(bot, 'pay', ciKey)).status).toBe(200);
    const ciId = query<{ public_id: string }>(file, "SELECT public_id FROM api_keys WHERE name = 'ci'")[0]!.public_id;
    expect((await command(b, slack, OWNER, `keys revoke pay ${ciId}`)).text).toContain('is revoked');
    expect((await readiness(a, 'pay', ciKey)).status).toBe(401);
    expect((await readiness(a, 'pay', key)).status).toBe(200);

    for (const bot of bots) {
      expect(bot.linesMentioning(LOCKED), bot.describe()).toEqual([]);
      expect(bot.errors(), bot.describe()).toEqual([]);
    }
  }, 90_000);
});

describe('two processes starting at once on a fresh database file', () => {
  // BUG (src/db/migrate.ts, migrateToLatest): Kysely's migration lock for
  // SQLite is a no-op across connections, so two processes that start
  // together on a new file both apply 001_foundation and the second one dies
  // at start-up with `Migration 001_foundation failed: table "projects"
  // already exists` (seen with two real bots too: about one start in four,
  // on 001 or 002). Two connections in one process show it every time.
  it('both apply the migrations without error', async () => {
    const file = join(dir, 'fresh.db');
    const first = openDb(file);
    const second = openDb(file);
    try {
      const results = await Promise.allSettled([migrateToLatest(first.kysely), migrateToLatest(second.kysely)]);
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(['ok', 'ok']);
    } finally {
      await first.close();
      await second.close();
    }
  }, 60_000);
});
