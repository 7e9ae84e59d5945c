/**
 * Drill: the bot is SIGKILLed while a rotation is writing the new key to
 * GitHub, then started again on the same database file. The real bot runs as
 * a child process; Slack and GitHub are local servers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { encodeTicket } from '../../src/services/deliveries.ts';
import { startRotation } from '../../src/services/rotations.ts';
import { KEY, press as pressInProcess, run, waitForCall as waitForCallInProcess } from '../e2e/keys-flow.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FakeSlack } from '../helpers/slack.ts';
import { command, pressReveal, readiness, revealNewest, waitForButton, waitForCall, type LocalSlack } from './bot-flow.ts';
import { sleep, startBot, stopAllBots, type BotProcess } from './bot-process.ts';
import { LocalGitHub } from './local-github.ts';

const OWNER = 'U0OWNER';
const PROJECT = 'pay';
const OVERLAP_SECONDS = 5;

let dir: string;
let slack: LocalSlack;
let closeSlack: () => Promise<void>;
let github: LocalGitHub;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jamjet-drill-crash-'));
  const fake = new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' });
  const listening = await fake.listen();
  slack = { fake, url: listening.url };
  closeSlack = listening.close;
  github = await new LocalGitHub().listen();
});

afterEach(async () => {
  await stopAllBots();
  await closeSlack();
  await github.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Reads the bot's database from outside, as an operator would with sqlite3. */
function query<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const reminders = () => slack.fake.callsTo('chat.postMessage').filter((c) => String(c.body.text).includes('overlap of the'));

describe('SIGKILL in the middle of a rotation', () => {
  it('keeps both keys working, reminds exactly once after a restart, and still reveals the pre-crash key', async () => {
    const file = join(dir, 'jamjet.db');
    let bot: BotProcess = await startBot({ name: 'first', slackUrl: slack.url, databaseFile: file, githubUrl: github.url, adminUsers: [OWNER] });

    // A project, its first key revealed through the DM button, and a linked repository.
    expect((await command(bot, slack, OWNER, `projects create ${PROJECT}`)).text).toContain('created');
    const oldKey = await revealNewest(bot, slack, OWNER);
    const linked = await command(bot, slack, OWNER, `github link ${PROJECT} acme/api`);
    expect(linked.text).toContain('as target 1');

    // The rotation reaches GitHub, whose PUT never answers: the bot dies right there.
    github.hangWrites = true;
    const before = slack.fake.calls.length;
    const rotate = await command(bot, slack, OWNER, `keys rotate ${PROJECT} --overlap ${OVERLAP_SECONDS}s`);
    expect(rotate.text).toContain(`Rotating \`${PROJECT}\``);
    await vi.waitFor(() => expect(github.writes()).toHaveLength(1), { timeout: 10_000, interval: 25 });
    // The reveal DM goes out before GitHub is written.
    const preCrashDm = await waitForButton(slack, OWNER, 'key_reveal', before);
    await bot.kill();
    expect(reminders()).toHaveLength(0);

    const [rotation] = query<{ id: number; state: string; remind_at: number; reminded_at: number | null }>(
      file,
      'SELECT id, state, remind_at, reminded_at FROM rotations',
    );
    expect(rotation).toMatchObject({ state: 'overlap', reminded_at: null });

    // Start again on the same file.
    bot = await startBot({ name: 'second', slackUrl: slack.url, databaseFile: file, githubUrl: github.url });

    // The Reveal button of the DM sent before the crash still works (well within 15 minutes).
    const revealed = await pressReveal(bot, slack, OWNER, preCrashDm.value);
    if ('refusal' in revealed) {
      expect(revealed.refusal).toMatch(/expired|no longer exists/);
    } else {
      expect(revealed.key).not.toBe(oldKey);
      // GitHub was sent the same key, sealed to its public key, before the crash.
      expect(github.open(String(github.writes()[0]!.body!.encrypted_value))).toBe(revealed.key);
      // The rotation is in its overlap: both keys work.
      expect((await readiness(bot, PROJECT, revealed.key)).status).toBe(200);
    }
    expect((await readiness(bot, PROJECT, oldKey)).status).toBe(200);
    const rows = query<{ state: string; old_revoked: number | null; new_revoked: number | null }>(
      file,
      `SELECT r.state, o.revoked_at AS old_revoked, n.revoked_at AS new_revoked
       FROM rotations r JOIN api_keys o ON o.id = r.old_key_id JOIN api_keys n ON n.id = r.new_key_id`,
    );
    expect(rows).toEqual([{ state: 'overlap', old_revoked: null, new_revoked: null }]);

    // The reminder comes once after the overlap, sent by the second process.
    await waitForCall(slack, 0, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('overlap of the'), 15_000);
    expect(Date.now()).toBeGreaterThanOrEqual(rotation!.remind_at);
    // Three more polls of the queue (JOBS_POLL_SECONDS=1) send nothing more.
    await sleep(3000);
    expect(reminders()).toHaveLength(1);
    expect(reminders()[0]!.body.channel).toBe(OWNER);
    expect(query(file, "SELECT status, attempts FROM jobs WHERE kind = 'rotation.reminder'")).toEqual([{ status: 'done', attempts: 1 }]);
    expect(query<{ reminded_at: number | null }>(file, 'SELECT reminded_at FROM rotations')[0]!.reminded_at).not.toBeNull();

    // What became of the interrupted GitHub write. Today (the key revealed
    // 2 s after the restart) the row stays `pending` with attempts 0, no
    // report or Retry reaches anyone, and GitHub never stored the key; see
    // the `it.fails` drill below. Whatever the fix: `written` only if GitHub
    // holds the new key, and the reminder must not offer *Revoke old key*
    // without saying the key is not on GitHub.
    const [target] = query<{ status: string; attempts: number }>(
      file,
      'SELECT status, attempts FROM rotation_targets WHERE rotation_id = ?',
      rotation!.id,
    );
    expect(['pending', 'failed', 'written']).toContain(target!.status);
    if (target!.status === 'written' && 'key' in revealed) {
      expect(github.open(github.secrets.get('acme/api/JAMJET_API_KEY')!.encryptedValue)).toBe(revealed.key);
    } else {
      expect(JSON.stringify(reminders()[0]!.body.blocks)).toContain('acme/api');
    }

    expect(bot.errors(), bot.describe()).toEqual([]);
  }, 60_000);
});

/**
 * The same crash, in process and on an injected clock: the transaction of
 * `keys rotate` commits (startRotation), and the process dies before its
 * follow-up has written GitHub. The Reveal button the DM carried is
 * `encodeTicket(ticket)`.
 */
describe('the GitHub write a crash interrupted, on a test clock', () => {
  let t: TestApp | null = null;
  let clock: { now: number };
  let file: string;

  const boot = () =>
    startTestApp({
      slack: new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }),
      now: () => clock.now,
      env: {
        DATABASE_URL: `sqlite:${file}`,
        GITHUB_TOKEN: 'ghp_drilldrilldrilldrilldrilldrill0002',
        GITHUB_API_URL: github.url,
        JOBS_POLL_SECONDS: '3600',
        JAMJET_ADMIN_USERS: OWNER,
      },
    });

  /** A linked project and a rotation whose process died before writing GitHub; returns the DM's Reveal value. */
  async function crashMidRotation(): Promise<string> {
    t = await boot();
    await run(t, OWNER, `projects create ${PROJECT}`);
    expect((await run(t, OWNER, `github link ${PROJECT} acme/api`)).text).toContain('as target 1');
    const started = await startRotation(t.app.services, { userId: OWNER, isAdmin: false }, PROJECT, null, 86_400, false);
    if (!started.ok) throw new Error(started.error.message);
    await t.stop();
    t = null;
    return encodeTicket(started.value.ticket);
  }

  async function revealAfterRestart(ticket: string): Promise<string> {
    t = await boot();
    const from = await pressInProcess(t, OWNER, 'key_reveal', ticket);
    const modal = await waitForCallInProcess(t, from, (c) => c.method === 'views.open');
    // The DM is edited to "revealed" before the listener looks for interrupted
    // writes: let it get that answer and look, before the test moves the clock.
    await waitForCallInProcess(t, from, (c) => c.method === 'response_url' && c.body.replace_original === true);
    await sleep(200);
    await t.app.jobs.runDue();
    return JSON.stringify(modal.body.view).match(KEY)![0];
  }

  const targetStatus = async () => ((await t!.app.db.raw('SELECT status FROM rotation_targets'))[0] as { status: string }).status;

  beforeEach(() => {
    clock = { now: Date.UTC(2026, 10, 28, 9, 0, 0) };
    file = join(dir, 'in-process.db');
  });
  afterEach(async () => {
    await t?.stop();
    t = null;
  });

  it('finishes the write when the key is revealed after a restart a few minutes later', async () => {
    const ticket = await crashMidRotation();
    clock.now += 3 * 60_000;
    const newKey = await revealAfterRestart(ticket);
    await vi.waitFor(async () => expect(await targetStatus()).toBe('written'), { timeout: 5000, interval: 20 });
    expect(github.open(github.secrets.get('acme/api/JAMJET_API_KEY')!.encryptedValue)).toBe(newKey);
    await waitForCallInProcess(t!, 0, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('1 of 1 GitHub targets written'));
  });

  // BUG (src/services/rotations.ts interruptedTargets, INTERRUPTED_AFTER_MS,
  // used by the key_reveal listener in src/slack/listeners/keys.ts): a write
  // counts as interrupted only when its row is more than 60 s old at the
  // moment of the reveal. The reveal is the one chance to get the key back,
  // and people press it at once: a bot that restarts quickly (the child
  // process drill above presses it 2 s after the restart) leaves the
  // target `pending` for good, with attempts 0 and no report or Retry; only
  // the end-of-overlap reminder says the key is not on GitHub.
  it('finishes the write when the key is revealed right after a quick restart', async () => {
    const ticket = await crashMidRotation();
    clock.now += 10_000;
    const newKey = await revealAfterRestart(ticket);
    // Give any later mechanism its chance: a few minutes and the queue.
    clock.now += 5 * 60_000;
    await t!.app.jobs.runDue();
    await vi.waitFor(async () => expect(await targetStatus()).toBe('written'), { timeout: 2000, interval: 20 });
    expect(github.open(github.secrets.get('acme/api/JAMJET_API_KEY')!.encryptedValue)).toBe(newKey);
  });
});
