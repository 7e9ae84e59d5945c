/**
 * Every surface at the largest size the product allows, against a Slack fake
 * that refuses what real Slack refuses (test/helpers/slack-rules.ts): 63-
 * character project names, 200 projects, 100 members, 20 keys, 120 pending
 * requests, 25 failing GitHub targets, contexts full of `&`, `<` and `>`,
 * long reasons. A payload over a limit fails the test (the fake refuses it and
 * the test app's stop() names it); answers stay under 4,000 characters and
 * page with `--page N`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { displayKey, hashKey } from '../../src/core/keys.ts';
import { recordEvent } from '../../src/services/audit.ts';
import type { RotationDetails } from '../../src/services/rotations.ts';
import { ELLIPSIS, pageOf, truncate } from '../../src/slack/limits.ts';
import { escape } from '../../src/slack/mrkdwn.ts';
import { renderContext } from '../../src/slack/views/approvals.ts';
import { rotationReport } from '../../src/slack/views/keys.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { ANSWER_LIMIT, BOT_USER, buttonPayload, FakeSlack, interact, sign, TEAM_ID } from '../helpers/slack.ts';
import { judge } from '../helpers/slack-rules.ts';
import { reveal, run, waitForCall } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const OWNER2 = 'U0OWNER2';
const CHANNEL = 'C0APPROVALS';
/** The longest project name the grammar allows: 63 characters. */
const NAME = `p${'a'.repeat(60)}-1`;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('truncate', () => {
  it('cuts to the limit with a visible …, never through a surrogate pair, an escape or a Slack token', () => {
    for (let max = 10; max < 60; max++) {
      const emoji = truncate('😀'.repeat(100), max);
      expect(emoji.length).toBeLessThanOrEqual(max);
      expect(emoji.endsWith(ELLIPSIS)).toBe(true);
      expect(emoji).not.toMatch(LONE_SURROGATE);

      const escaped = truncate(escape('&<>'.repeat(50)), max);
      expect(escaped.length).toBeLessThanOrEqual(max);
      expect(escaped.slice(0, -1)).toMatch(/^(&amp;|&lt;|&gt;)*$/);

      const mentions = truncate('<@U0123456789> '.repeat(10), max);
      expect(mentions.slice(0, -1)).toMatch(/^(<@U0123456789> ?)*$/);
    }
    expect(truncate('short', 10)).toBe('short');
  });

  it('keeps a code fence closed and an inline code span whole', () => {
    const fenced = truncate('```' + 'x'.repeat(100) + '```', 50);
    expect(fenced.length).toBeLessThanOrEqual(50);
    expect(fenced.startsWith('```') && fenced.endsWith('```')).toBe(true);
    expect(fenced).toContain(ELLIPSIS);
    const inline = truncate('see `' + 'y'.repeat(100) + '`', 40);
    expect((inline.match(/`/g) ?? []).length % 2).toBe(0);
  });

  it('shows a context of 2,400 `<` and one full of SQL and shell within one section, counted after escaping', () => {
    for (const context of [
      { sql: '<'.repeat(2400) },
      { sql: "SELECT * FROM t WHERE a < 1 && b > 2 AND c <> 'x&y'".repeat(60), html: '<a href="x?a=1&b=2">&amp;</a>'.repeat(80) },
    ]) {
      const shown = renderContext(context)!;
      expect(shown.length).toBeLessThanOrEqual(3000);
      expect(shown.startsWith('```') && shown.endsWith('```')).toBe(true);
      // Long values are shortened one by one, saying how much of each is not shown.
      expect(shown).toMatch(/\(\d+ more characters\)/);
      expect(shown).not.toMatch(/&(a|am|l|g|lt|gt)?(?![a-z;])/);
    }
  });

  it('shortens long context values with emoji on character boundaries, never showing half an emoji as \\ud83d', () => {
    for (const offset of [0, 1]) {
      const shown = renderContext({ note: `${'x'.repeat(offset)}${'😀'.repeat(2000)}`, other: '😀'.repeat(700 + offset) })!;
      expect(shown.length).toBeLessThanOrEqual(3000);
      expect(shown).not.toMatch(/\\ud[89ab][0-9a-f]{2}/i);
      expect(shown).not.toMatch(LONE_SURROGATE);
    }
  });

  it('pages a list by size: every line once, each page under the budget, "N more" and the next --page', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `• line ${i} ${'w'.repeat(i % 90)}`);
    const seen: string[] = [];
    for (let page = 1; ; page++) {
      const answer = pageOf({ title: '*Things*', lines, page, command: 'things list' });
      if ('code' in answer) {
        expect(answer.message).toMatch(/^There is no page \d+: the list has \d+ pages\.$/);
        break;
      }
      expect(answer.text.length).toBeLessThanOrEqual(4000);
      const body = answer.text.split('\n').filter((l) => l.startsWith('• '));
      seen.push(...body);
      if (seen.length < lines.length) expect(answer.text).toContain(`${lines.length - seen.length} more: \`/jamjet things list --page ${page + 1}\``);
    }
    expect(seen).toEqual(lines);
  });
});

describe('every surface at its largest, against a fake that refuses what Slack refuses', () => {
  let t: TestApp;
  let key: string;
  let clock: { now: number };
  let projectId: number;

  beforeEach(async () => {
    clock = { now: Date.now() };
    const slack = new FakeSlack({ now: () => clock.now })
      .addUser({ id: OWNER, email: 'owner@acme.test' })
      .addUser({ id: OWNER2, email: 'owner2@acme.test' })
      .addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, OWNER2] });
    t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
    expect((await run(t, OWNER, `projects create ${NAME}`)).text).toContain('created');
    key = await reveal(t, OWNER);
    await run(t, OWNER, `projects channel ${NAME} <#${CHANNEL}|approvals>`);
    projectId = ((await t.app.db.raw('SELECT id FROM projects WHERE name = ?', [NAME]))[0] as { id: number }).id;
  });
  afterEach(async () => {
    await t.stop();
  });

  /** Plain SQL on the engine under test (`?` placeholders); inserts that need the new id say `RETURNING id`. */
  const sql = (text: string, values: readonly unknown[] = []) => t.app.db.raw(text, values);
  /** The one row `text` returns. */
  const one = async (text: string, values: readonly unknown[] = []) => (await sql(text, values))[0];
  /** Runs bulk seeding in one transaction, so it stays fast on both engines. */
  const seed = (fn: () => Promise<void>) => t.app.db.transaction(fn);
  /** A statement to run many times with different values. */
  const statement =
    (text: string) =>
    (...values: unknown[]) =>
      sql(text, values);
  /** Inserts a project and returns its new id. */
  const insertProject = async (name: string) => ((await one('INSERT INTO projects (name, created_by, created_at) VALUES (?, ?, ?) RETURNING id', [name, OWNER, clock.now])) as { id: number }).id;
  const keyIdOf = async () => ((await one('SELECT id FROM api_keys WHERE project_id = ?', [projectId])) as { id: number }).id;

  async function create(action: string, context: unknown, apiKey = key) {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action, context }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  async function seedPending(count: number) {
    const keyId = await keyIdOf();
    await seed(async () => {
      for (let i = 0; i < count; i++) {
        const action = `deploy <${'&'.repeat(150)}> ${i}`.slice(0, 200);
        await sql("INSERT INTO approvals (id, project_id, key_id, action, context, status, created_at, expires_at) VALUES (?, ?, ?, ?, '{}', 'pending', ?, ?)", [
          `apr_${i.toString(16).padStart(24, '0')}`,
          projectId,
          keyId,
          action,
          clock.now,
          clock.now + 3_600_000,
        ]);
      }
    });
  }

  /** Every page of a command's answer: each fits, and together they list `expected` entries. */
  async function allPages(command: string, entry: RegExp): Promise<number> {
    let count = 0;
    for (let page = 1; page < 100; page++) {
      const { text } = await run(t, OWNER, `${command} --page ${page}`);
      if (text.includes('There is no page')) {
        expect(text).toContain('Usage:');
        return count;
      }
      expect(text.length).toBeLessThanOrEqual(ANSWER_LIMIT);
      count += text.split('\n').filter((l) => entry.test(l)).length;
    }
    throw new Error('more than 100 pages');
  }

  it('posts the card of a request whose context is 2,400 `<`, or full of & < >, in one piece within the limits', async () => {
    const ids = [
      await create('run migration', { sql: '<'.repeat(2400) }),
      await create('run `rm -rf /tmp/x && make` <now>', { sql: 'a < b && c > d & e'.repeat(400), url: 'https://x.test/?a=1&b=<2>'.repeat(100) }),
    ];
    // The second card waits its turn: one post a second to the channel.
    for (let i = 0; i < 3; i++, clock.now += 1000) await t.runDue();
    for (const id of ids) {
      const card = await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.ok === true && JSON.stringify(c.body.blocks ?? []).includes(id));
      expect(JSON.stringify(card.body.blocks)).toContain('more characters');
    }
    expect(t.slack.refusals).toEqual([]);
  });

  it('falls back at once to a card without the context when Slack refuses the card, saying where to look', async () => {
    let refused = 0;
    t.slack.on('chat.postMessage', (b) => {
      if (JSON.stringify(b.blocks ?? []).includes('```')) {
        refused++;
        return { ok: false, error: 'invalid_blocks' };
      }
      return { ok: true, channel: b.channel, ts: `${Date.now()}.000100` };
    });
    const id = await create('deploy', { huge: true });
    await t.runDue();
    const card = await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.ok === true && JSON.stringify(c.body.blocks ?? []).includes(id));
    expect(JSON.stringify(card.body.blocks)).toContain(`/jamjet approvals list ${NAME}`);
    expect(refused).toBe(1);
    // The replica that posted it marks the job done just after the post.
    await vi.waitFor(async () => expect(await one("SELECT status FROM jobs WHERE kind = 'approval.post'")).toEqual({ status: 'done' }), { timeout: 5000, interval: 20 });
  });

  it('drains a burst of 100 cards to one channel at Slack’s pace: each once, no refused call, close to the ideal time', async () => {
    // Five keys of the project: the API lets one key burst 20 requests.
    const keys = Array.from({ length: 5 }, (_, k) => `jj_${(k + 2000).toString(16).padStart(32, '0')}`);
    const keyRow = statement('INSERT INTO api_keys (public_id, project_id, name, hash, display, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    await seed(async () => {
      for (const [k, plaintext] of keys.entries()) await keyRow(`key_burst${k}`, projectId, `burst-${k}`, hashKey(plaintext), displayKey(plaintext), OWNER, clock.now);
    });
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(await create(`deploy shard ${i}`, { shard: i }, keys[i % 5]));
    const started = clock.now;
    const delivered = () => t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok && c.body.channel === CHANNEL).length;
    // Each step is what the queue's wake-up timer does: run what is due at that moment.
    while (delivered() < 100 && clock.now - started < 600_000) {
      await t.runDue();
      if (delivered() < 100) clock.now += 250;
    }
    const drainMs = clock.now - started;
    const cards = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok && c.body.channel === CHANNEL);
    for (const id of ids) expect(cards.filter((c) => JSON.stringify(c.body.blocks).includes(id))).toHaveLength(1);
    expect(t.slack.rateLimited.filter((r) => r.channel === CHANNEL).length).toBeLessThanOrEqual(100);
    // Ideal: Slack's burst of 5 at once, then one a second.
    expect(drainMs).toBeLessThanOrEqual(1.2 * 95_000);
  }, 60_000);

  it('edits 100 cards that expire at once within chat.update’s limit: each once, at most one refused call per card', async () => {
    const keyId = await keyIdOf();
    const approval = statement("INSERT INTO approvals (id, project_id, key_id, action, context, status, created_at, expires_at) VALUES (?, ?, ?, 'deploy', '{}', 'pending', ?, ?)");
    const card = statement('INSERT INTO approval_cards (approval_id, destination, channel, ts) VALUES (?, ?, ?, ?)');
    const job = statement("INSERT INTO jobs (kind, payload, run_at, status, created_at) VALUES ('approval.expire', ?, ?, 'pending', ?)");
    const ids = Array.from({ length: 100 }, (_, i) => `apr_${(i + 4096).toString(16).padStart(24, '0')}`);
    await seed(async () => {
      for (const [i, id] of ids.entries()) {
        await approval(id, projectId, keyId, clock.now, clock.now + 1000);
        await card(id, CHANNEL, CHANNEL, `1700000000.${String(i).padStart(6, '0')}`);
        await job(JSON.stringify({ approval: id }), clock.now + 1000, clock.now);
      }
    });
    clock.now += 1000;
    const started = clock.now;
    const edited = () => t.slack.calls.filter((c) => c.method === 'chat.update' && c.ok);
    while (edited().length < 100 && clock.now - started < 600_000) {
      await t.runDue();
      if (edited().length < 100) clock.now += 250;
    }
    for (const [i, id] of ids.entries()) {
      const edits = edited().filter((c) => c.body.ts === `1700000000.${String(i).padStart(6, '0')}`);
      expect(edits, id).toHaveLength(1);
      expect(JSON.stringify(edits[0]!.body.blocks)).toContain('Expired');
    }
    expect(t.slack.rateLimited.filter((r) => r.channel === 'method:chat.update').length).toBeLessThanOrEqual(100);
    // Slack lets 50 through at once, then about one every 1.2 s.
    expect(clock.now - started).toBeLessThanOrEqual(1.2 * 60_000);
  }, 60_000);

  it('answers approvals list with 120 pending requests in pages that fit', async () => {
    await seedPending(120);
    expect(await allPages(`approvals list ${NAME}`, /^• `apr_/)).toBe(120);
    const first = (await run(t, OWNER, `approvals list ${NAME}`)).text;
    expect(first).toMatch(/Page 1 of \d+ · \d+ more: `\/jamjet approvals list .+ --page 2`/);
  });

  it('answers whoami and projects list for the Owner of 200 projects with 63-character names', async () => {
    const member = statement("INSERT INTO memberships (project_id, user_id, role, added_by, created_at) VALUES (?, ?, 'owner', ?, ?)");
    await seed(async () => {
      for (let i = 0; i < 199; i++) await member(await insertProject(`q${String(i).padStart(3, '0')}${'b'.repeat(59)}`), OWNER, OWNER, clock.now);
    });
    expect(await allPages('whoami', /^• `/)).toBe(200);
    expect(await allPages('projects list', /^• `/)).toBe(200);
  });

  it('answers members list with 100 members, keys list with 20 keys, github list with 25 targets and audit with 100 long events', async () => {
    const member = statement("INSERT INTO memberships (project_id, user_id, role, added_by, created_at) VALUES (?, ?, 'member', ?, ?)");
    await seed(async () => {
      for (let i = 0; i < 99; i++) await member(projectId, `U0M${String(i).padStart(8, '0')}`, OWNER, clock.now);
    });
    expect(await allPages(`members list ${NAME}`, /^• <@/)).toBe(100);

    const keyRow = statement('INSERT INTO api_keys (public_id, project_id, name, hash, display, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    await seed(async () => {
      for (let i = 0; i < 19; i++) {
        const plaintext = `jj_${(i + 1000).toString(16).padStart(32, '0')}`;
        await keyRow(`key_${(i + 1000).toString(16).padStart(8, '0')}`, projectId, `<&>${'k'.repeat(54)}${i}`.slice(0, 60), hashKey(plaintext), displayKey(plaintext), OWNER, clock.now);
      }
    });
    expect(await allPages(`keys list ${NAME}`, /^• \*/)).toBe(20);

    const target = statement(
      "INSERT INTO github_targets (project_id, kind, owner, repo, environment, secret_name, created_by, created_at) VALUES (?, 'environment', ?, ?, ?, ?, ?, ?)",
    );
    await seed(async () => {
      for (let i = 0; i < 25; i++) await target(projectId, `org-${'o'.repeat(30)}${i}`, `repo-${'r'.repeat(90)}`, `env-${'e'.repeat(40)}`, `JAMJET_API_KEY_${'S'.repeat(40)}`, OWNER, clock.now);
    });
    expect(await allPages(`github list ${NAME}`, /^• \d+:/)).toBe(25);

    for (let i = 0; i < 100; i++) await recordEvent(t.app.db, clock.now, { projectId, actor: OWNER, action: 'test.event', details: { note: '<&>'.repeat(300), i } });
    expect(await allPages(`audit ${NAME} --limit 100`, /^• /)).toBe(100);
    expect(await allPages('help', /^• `\/jamjet/)).toBeGreaterThan(20);
  });

  it('answers projects info for a project of 300 Owners with every line, naming 20 and how many more', async () => {
    const member = statement("INSERT INTO memberships (project_id, user_id, role, added_by, created_at) VALUES (?, ?, 'owner', ?, ?)");
    await seed(async () => {
      for (let i = 0; i < 299; i++) await member(projectId, `W0OWNER${String(i).padStart(6, '0')}`, OWNER, clock.now);
    });
    const { text } = await run(t, OWNER, `projects info ${NAME}`);
    expect(text.length).toBeLessThanOrEqual(ANSWER_LIMIT);
    expect(text).not.toContain(ELLIPSIS);
    expect(text).toContain(`and 280 more (\`/jamjet members list ${NAME}\`)`);
    expect(text).toContain('Approval timeout:');
  });

  it('refuses an e-mail invitation longer than an address can be, storing nothing and echoing it cut', async () => {
    for (const address of [`${'a'.repeat(3000)}@x.test`, `<mailto:${'b'.repeat(250)}@x.test|${'b'.repeat(250)}@x.test>`]) {
      const { text } = await run(t, OWNER, `members invite ${NAME} ${address}`);
      expect(text).toMatch(/^:warning: `[ab]{60}…` is longer than the 254 characters an e-mail address can have\.\nUsage: /);
    }
    expect(await one('SELECT COUNT(*) AS n FROM pending_invites')).toEqual({ n: 0 });
    expect((await run(t, OWNER, `members invite ${NAME} ${'c'.repeat(240)}@x.test`)).text).toContain('No one in this workspace uses');
  });

  it('publishes App Home with 120 requests to decide and 200 projects within 100 blocks', async () => {
    await seedPending(120);
    const member = statement("INSERT INTO memberships (project_id, user_id, role, added_by, created_at) VALUES (?, ?, 'owner', ?, ?)");
    await seed(async () => {
      for (let i = 0; i < 199; i++) await member(await insertProject(`h${String(i).padStart(3, '0')}${'c'.repeat(59)}`), OWNER, OWNER, clock.now);
    });
    const body = JSON.stringify({
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0HOME',
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_home_opened', user: OWNER, channel: `D${OWNER}`, tab: 'home', event_ts: '1700000000.000100' },
    });
    const from = t.slack.calls.length;
    const res = await fetch(`http://127.0.0.1:${t.port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...sign(body) }, body });
    expect(res.status).toBe(200);
    const published = await waitForCall(t, from, (c) => c.method === 'views.publish');
    expect(published.ok).toBe(true);
    expect(JSON.stringify(published.body.view)).toContain('more');
  });

  it('edits the card with the longest reject reason the modal takes (500 characters), full of < and &', async () => {
    const id = await create('drop table users', {});
    await t.runDue();
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.ok === true && JSON.stringify(c.body.blocks ?? []).includes(id));
    const from = t.slack.calls.length;
    await interact(t.port, buttonPayload(OWNER, 'approval_reject', id, CHANNEL));
    const modal = await waitForCall(t, from, (c) => c.method === 'views.open');
    const view = modal.body.view as { callback_id: string; private_metadata: string };
    await interact(t.port, {
      type: 'view_submission',
      team: { id: TEAM_ID },
      user: { id: OWNER },
      api_app_id: 'A0APP',
      view: { id: 'V1', callback_id: view.callback_id, private_metadata: view.private_metadata, state: { values: { reason: { text: { type: 'plain_text_input', value: `${'<&>'.repeat(166)}<&` } } } } },
    });
    await vi.waitFor(async () => {
      await t.runDue();
      expect(t.slack.calls.some((c) => c.method === 'chat.update' && c.ok === true && JSON.stringify(c.body).includes('Rejected'))).toBe(true);
    }, { timeout: 5000, interval: 20 });
  });

  it('sends a reminder Slack refuses for good to the next Owner at once, naming who could not be reached', async () => {
    await run(t, OWNER, `members invite ${NAME} <@${OWNER2}> owner`);
    let ts = 1;
    t.slack.on('chat.postMessage', (b) =>
      b.channel === OWNER && String(b.text).includes('overlap of the')
        ? { ok: false, error: 'account_inactive' }
        : { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `1800000000.${String(ts++).padStart(6, '0')}` },
    );
    expect((await run(t, OWNER, `keys rotate ${NAME} --overlap 0s`)).text).toContain('Rotating');
    for (let i = 0; i < 3; i++, clock.now += 1000) await t.runDue();
    const reminders = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('overlap of the'));
    expect(reminders.map((c) => [c.body.channel, c.ok])).toEqual([
      [OWNER, false],
      [OWNER2, true],
    ]);
    expect(JSON.stringify(reminders[1]!.body.blocks)).toContain(`I could not reach <@${OWNER}> (` + '`account_inactive`)');
    expect(await one("SELECT status, attempts FROM jobs WHERE kind = 'rotation.reminder'")).toEqual({ status: 'done', attempts: 1 });
  });

  it('tells the Owners when a request expired before Slack ever took its card', async () => {
    t.slack.on('chat.postMessage', (b) =>
      b.channel === CHANNEL ? [500, { ok: false, error: 'internal_error' }] : { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: '1800000000.000100' },
    );
    const id = await create('deploy during an outage', {});
    await t.runDue();
    // Slack fails until the request has expired (1 hour); the queue keeps trying meanwhile.
    for (let i = 0; i < 40; i++, clock.now += 5 * 60_000) await t.runDue();
    const told = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.body.channel === OWNER && String(c.body.text).includes(id));
    expect(told).toHaveLength(1);
    expect(String(told[0]!.body.text)).toContain('expired before Slack took its card');
    await vi.waitFor(async () => expect(await one("SELECT status FROM jobs WHERE kind = 'approval.post'")).toEqual({ status: 'done' }), { timeout: 5000, interval: 20 });
  });

  it('tells the Owner of every one of 20 requests that lapsed in one outage, at Slack’s pace, each once', async () => {
    t.slack.on('chat.postMessage', (b) =>
      b.channel === CHANNEL ? [500, { ok: false, error: 'internal_error' }] : { ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${clock.now}.000100` },
    );
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await create(`deploy during an outage ${i}`, {}));
    for (let i = 0; i < 40; i++, clock.now += 5 * 60_000) await t.runDue();
    for (let i = 0; i < 60; i++, clock.now += 1000) await t.runDue();
    const told = t.slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok && c.body.channel === OWNER && String(c.body.text).includes('expired before Slack took its card'));
    for (const id of ids) expect(told.filter((c) => String(c.body.text).includes(id)), id).toHaveLength(1);
    expect(t.slack.rateLimited.filter((r) => r.channel === OWNER).length).toBeLessThanOrEqual(20);
  }, 60_000);

  it('builds a rotation report with 25 failing GitHub targets that Slack takes', () => {
    const targets = Array.from({ length: 25 }, (_, i) => ({
      target: { id: i + 1, projectId, kind: 'environment', owner: `org-${i}`, repo: `repo-${'r'.repeat(90)}`, environment: `env-${i}`, secretName: 'JAMJET_API_KEY', createdBy: OWNER, createdAt: 0 },
      status: 'failed',
      message: `GitHub answered 403: ${'<forbidden & denied> '.repeat(40)}`,
    }));
    const key = (id: number) => ({ id, publicId: `key_${id}`, projectId, name: `<&>${'n'.repeat(57)}`, display: 'jj_1a2b…9f0e', createdBy: OWNER, createdAt: 0, lastUsedAt: null, revokedAt: null });
    const details = {
      rotation: { id: 7, projectId, state: 'overlap', remindAt: clock.now + 86_400_000, requestedBy: OWNER, createdAt: 0 },
      project: { id: projectId, name: NAME },
      oldKey: key(1),
      newKey: key(2),
      targets,
      replacedBy: null,
      // Paused targets too, each on a line of its own.
      paused: targets.map(({ target }) => ({ ...target, id: target.id + 100, pausedAt: 1, pausedReason: 'removed' })),
    } as unknown as RotationDetails;
    const report = rotationReport(details, 'ticket-'.padEnd(60, 'x'));
    expect(judge('chat.postMessage', { channel: OWNER, ...report })).toBeNull();
    expect(report.blocks!.filter((b) => 'accessory' in b && b.accessory)).toHaveLength(25);
  });
});
