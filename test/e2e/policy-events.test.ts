import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { sdkDecision } from '../helpers/sdk-client.ts';
import { BOT_USER, FakeSlack, type SlackCall } from '../helpers/slack.ts';
import { reveal, run } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const READER = 'U0READER';
const OUTSIDER = 'U0OUTSIDE';
const OTHER_OWNER = 'U0OTHER';
const CHANNEL = 'C0APPROVALS';
const KEY_SHAPE = /jj_[0-9a-f]{32}/;

let t: TestApp;
let key: string;
let clock: { now: number };

/** One decision as the TypeScript SDK's AuditWriter writes it (its field names and types), stamped with the test clock. */
const decision = (over: Record<string, unknown> = {}) => sdkDecision({ ts: new Date(clock.now).toISOString(), run_id: 'run-7', ...over });

/** The SDK's cloud pusher on the wire: `{"events": [...], "path": "direct"}`, Bearer key. */
async function push(events: unknown[], apiKey = key, raw?: string) {
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/policy-audit/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: raw ?? JSON.stringify({ events, path: 'direct' }),
    signal: AbortSignal.timeout(500),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as { accepted?: number; error?: { code: string; message: string } } };
}

const announcements = (from = 0): SlackCall[] =>
  t.slack.calls.slice(from).filter((c) => c.method === 'chat.postMessage' && c.ok === true && String(c.body.text).includes('blocked or over budget'));

/** Moves past the burst window and runs due jobs on every replica at once. */
async function runAnnouncements(ms = 6_000) {
  clock.now += ms;
  await t.runDue();
  await t.runDue();
}

const storedCount = async (project: string) =>
  (await t.app.db.raw<{ n: number }>('SELECT count(*) AS n FROM policy_events e JOIN projects p ON p.id = e.project_id WHERE p.name = ?', [project]))[0]!.n;

beforeEach(async () => {
  clock = { now: Date.now() };
  const slack = new FakeSlack();
  for (const id of [OWNER, READER, OUTSIDER, OTHER_OWNER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${READER}> read_only`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
});
afterEach(async () => {
  await t.stop();
});

describe('POST /v1/policy-audit/events', () => {
  it('takes an SDK-shaped push at once (one insert, nothing waits on Slack) and keeps it with the key\'s project', async () => {
    await push([decision({ decision: 'ALLOWED', executed: true })]);
    const slackCalls = t.slack.calls.length;
    for (let i = 0; i < 5; i++) {
      const res = await push([decision({ decision: ['WAITING_FOR_APPROVAL', 'ALLOWED', 'BLOCKED'][i % 3]!, tool: `tool-${i}` })]);
      expect(res.status).toBe(202);
      expect(res.json).toEqual({ accepted: 1 });
    }
    // Answered before anything reaches Slack, even for a blocked decision (its announcement is a job a few seconds
    // later), so the pusher's 500 ms never depend on Slack; `npm run bench -- policy-events` measures the latency.
    expect(t.slack.calls.length).toBe(slackCalls);
    const [announce] = await t.app.db.raw<{ at: number }>("SELECT run_at AS at FROM jobs WHERE kind = 'policy_events.announce'");
    expect(Number(announce!.at)).toBeGreaterThanOrEqual(clock.now + 5_000);
    expect(await storedCount('payments')).toBe(6);
    const row = (await t.app.db.raw<Record<string, unknown>>("SELECT * FROM policy_events WHERE tool = 'tool-0'"))[0]!;
    expect(row).toMatchObject({ decision: 'WAITING_FOR_APPROVAL', adapter: 'ts-sdk', host: 'typescript', rule: 'deploy-*', rule_kind: 'block', schema_version: 1, executed: 0, policy_version: '1', args: '{"env":"prod"}' });
  });

  it('refuses a missing, unknown or revoked key with 401 and WWW-Authenticate, and keeps nothing', async () => {
    const bare = await fetch(`http://127.0.0.1:${t.port}/v1/policy-audit/events`, { method: 'POST', body: JSON.stringify({ events: [decision()] }) });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const unknown = await push([decision()], `jj_${'0'.repeat(32)}`);
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(unknown.json.error?.code).toBe('unauthorized');
    await t.app.db.raw('UPDATE api_keys SET revoked_at = ?, revoked_by = ?', [clock.now, OWNER]);
    await vi.waitFor(async () => expect((await push([decision()])).status).toBe(401), { timeout: 3000, interval: 50 });
    expect(await storedCount('payments')).toBe(0);
  });

  it('puts a key\'s events in the key\'s own project, whatever the body says', async () => {
    await run(t, OTHER_OWNER, 'projects create search');
    const other = await reveal(t, OTHER_OWNER, t.slack.calls.length - 20);
    expect(other).not.toBe(key);
    expect((await push([decision({ project: 'payments', project_id: 1 })], other)).status).toBe(202);
    expect(await storedCount('search')).toBe(1);
    expect(await storedCount('payments')).toBe(0);
  });

  it('answers malformed pushes 400 with the error shape, oversize batches and bodies 413, another method 405', async () => {
    const shapes: [unknown, string][] = [
      [{ events: [] }, '`events`'],
      [{ events: [decision(), decision({ executed: 'no' })] }, '`events[1].executed`'],
      [{ events: [decision({ schema_version: 2 })] }, '`events[0].schema_version`'],
      [{ events: [decision({ tool: null })] }, '`events[0].tool`'],
      [{ events: [decision({ args: ['a'] })] }, '`events[0].args`'],
      [{ events: [decision({ decision: 'blocked!' })] }, '`events[0].decision`'],
      [[decision()], 'The body'],
    ];
    for (const [body, field] of shapes) {
      const res = await push([], key, JSON.stringify(body));
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.error?.code).toBe('invalid_request');
      expect(res.json.error?.message).toContain(field);
    }
    expect((await push([], key, '{"events": [')).status).toBe(400);
    const many = await push(Array.from({ length: 101 }, () => decision({ args: undefined })));
    expect(many.status).toBe(413);
    expect(many.json.error?.code).toBe('payload_too_large');
    const huge = await push([decision({ args: { blob: 'x'.repeat(70_000) } })]);
    expect(huge.status).toBe(413);
    const get = await fetch(`http://127.0.0.1:${t.port}/v1/policy-audit/events`, { headers: { authorization: `Bearer ${key}` } });
    expect(get.status).toBe(405);
    expect(await storedCount('payments')).toBe(0);
  });

  it('never lets an API key an agent put in a decision reach the database, a log line or Slack', async () => {
    const leaked = `jj_${'9f'.repeat(16)}`;
    const res = await push([
      decision({
        tool: `upload ${leaked}`,
        rule: `<!channel> ${leaked}`,
        host: leaked,
        run_id: leaked,
        args: { nested: { deeper: [{ header: `Authorization: Bearer ${leaked}` }] }, [leaked]: 'field name' },
      }),
    ]);
    expect(res.status).toBe(202);
    await runAnnouncements();
    await vi.waitFor(() => expect(announcements()).toHaveLength(1), { timeout: 5000, interval: 20 });
    const stored = JSON.stringify(await t.app.db.raw('SELECT * FROM policy_events'));
    expect(stored).not.toContain(leaked);
    expect(stored).not.toMatch(KEY_SHAPE);
    expect(t.logs.join('\n')).not.toContain(leaked);
    const posted = JSON.stringify(announcements());
    expect(posted).not.toContain(leaked);
    expect(posted).not.toContain('<!channel>');
    expect(posted).toContain('&lt;!channel&gt;');
  });
});

describe('announcing blocked and over-budget decisions', () => {
  it('announces a burst of 50 in one message, and a later burst in another', async () => {
    for (let i = 0; i < 10; i++) {
      const batch = Array.from({ length: 5 }, (_, j) => decision({ tool: `tool-${(i * 5 + j) % 3}`, decision: j === 4 ? 'BUDGET_EXCEEDED' : 'BLOCKED' }));
      expect((await push([...batch, decision({ decision: 'ALLOWED' })])).status).toBe(202);
    }
    await runAnnouncements();
    await vi.waitFor(() => expect(announcements()).toHaveLength(1), { timeout: 5000, interval: 20 });
    const first = announcements()[0]!;
    expect(first.body.channel).toBe(CHANNEL);
    expect(String(first.body.text)).toContain('50 agent decisions blocked or over budget');
    const blocks = JSON.stringify(first.body.blocks);
    expect(blocks).toContain('tool-0');
    expect(blocks).toContain('over budget');
    expect(blocks).toContain('And 45 more');
    // Nothing more to say until the next burst.
    await runAnnouncements(60_000);
    expect(announcements()).toHaveLength(1);

    for (let i = 0; i < 3; i++) await push([decision({ tool: 'rm-rf' })]);
    await runAnnouncements();
    await vi.waitFor(() => expect(announcements()).toHaveLength(2), { timeout: 5000, interval: 20 });
    expect(String(announcements()[1]!.body.text)).toContain('3 agent decisions');
    await runAnnouncements(60_000);
    expect(announcements()).toHaveLength(2);
  });

  it('retries after Slack\'s 429 and posts the burst once: nothing lost, nothing doubled', async () => {
    let refused = 0;
    t.slack.on('chat.postMessage', (b) => {
      if (refused++ === 0) return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '7' }];
      return { ok: true, channel: b.channel, ts: `${1_700_000_000 + refused}.000100` };
    });
    for (let i = 0; i < 4; i++) await push(Array.from({ length: 5 }, () => decision()));
    await runAnnouncements();
    expect(refused).toBe(1);
    expect(announcements()).toHaveLength(0);
    // Decisions that arrive while the announcement waits out Slack's limit go with it.
    await push([decision({ decision: 'BUDGET_EXCEEDED', tool: 'llm-call' })]);
    await runAnnouncements(8_000);
    await vi.waitFor(() => expect(announcements()).toHaveLength(1), { timeout: 5000, interval: 20 });
    expect(String(announcements()[0]!.body.text)).toContain('21 agent decisions');
    await runAnnouncements(60_000);
    expect(announcements()).toHaveLength(1);
    const left = await t.app.db.raw<{ n: number }>('SELECT count(*) AS n FROM policy_events WHERE announce = 1 AND announced_at IS NULL');
    expect(left[0]!.n).toBe(0);
  });

  it('announces each decision of a burst pushed at once through every replica exactly once, in one or few messages', async () => {
    const pushes = Array.from({ length: 10 }, (_, i) => push(Array.from({ length: 5 }, (_, j) => decision({ tool: `t-${i}-${j}` }))));
    expect((await Promise.all(pushes)).map((r) => r.status)).toEqual(Array(10).fill(202));
    await runAnnouncements();
    await runAnnouncements(60_000);
    const posted = announcements();
    expect(posted.length).toBeGreaterThanOrEqual(1);
    expect(posted.length).toBeLessThanOrEqual(t.replicas.length);
    const total = posted.reduce((sum, c) => sum + Number(/(\d+) agent decisions? blocked/.exec(String(c.body.text))![1]), 0);
    expect(total).toBe(50);
  });

  it('announces a burst on its own a few seconds later, without waiting for the job poll (an hour here)', async () => {
    clock.now = Date.now();
    for (let i = 0; i < 3; i++) await push([decision()]);
    // The time the app sees moves on with real time, as in production.
    const ticking = setInterval(() => (clock.now = Date.now()), 50);
    try {
      await vi.waitFor(() => expect(announcements()).toHaveLength(1), { timeout: 15_000, interval: 100 });
    } finally {
      clearInterval(ticking);
    }
    expect(String(announcements()[0]!.body.text)).toContain('3 agent decisions');
  }, 25_000);

  it('announces nothing for a project without an approvals channel', async () => {
    await run(t, OTHER_OWNER, 'projects create search');
    const other = await reveal(t, OTHER_OWNER, t.slack.calls.length - 20);
    await push([decision(), decision()], other);
    await runAnnouncements();
    expect(announcements()).toHaveLength(0);
    expect(await storedCount('search')).toBe(2);
  });
});

describe('/jamjet events', () => {
  beforeEach(async () => {
    const tools = ['deploy-prod', 'deploy-staging', 'read-file', 'Deploy-x'];
    for (let i = 0; i < 8; i++) {
      await push(Array.from({ length: 10 }, (_, j) => decision({ tool: tools[(i + j) % 4], decision: j % 2 ? 'ALLOWED' : 'BLOCKED', rule: `rule-${j}` })));
    }
  });

  it('lists every role\'s view newest first, filtered by decision and tool glob, paged to fit Slack', async () => {
    const all = await run(t, READER, 'events payments');
    expect(all.text).toContain('Decisions reported in `payments`');
    expect(all.text).toContain('latest 20 of 80');
    const blocked = await run(t, READER, 'events payments --decision blocked --tool deploy-* --limit 100');
    expect(blocked.text).toContain('decision `BLOCKED`');
    const lines = blocked.text.split('\n').filter((l) => l.startsWith('• '));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).toContain('`BLOCKED`');
      expect(line).toMatch(/`deploy-(prod|staging)`/);
    }
    expect(blocked.text).toMatch(/\(latest \d+ of \d+\)|\(\d+\)/);
    const many = await run(t, OWNER, 'events payments --limit 100');
    expect(many.text.length).toBeLessThanOrEqual(4000);
    expect(many.text).toContain('--page 2');
    const second = await run(t, OWNER, 'events payments --limit 100 --page 2');
    expect(second.text).toContain('Page 2 of');
  });

  it('tells someone with no role only that they have no access, and refuses bad input with the usage line', async () => {
    const outsider = await run(t, OUTSIDER, 'events payments');
    expect(outsider.text).toMatch(/no access/i);
    expect(outsider.text).not.toContain('deploy');
    const bad = await run(t, OWNER, 'events payments --decision "<!channel>"');
    expect(bad.text).toContain('is not a decision');
    expect(bad.text).toContain('events <project>');
    const none = await run(t, OWNER, 'events payments --tool nothing-*');
    expect(none.text).toContain('no decisions');
  });
});

describe('the approval card names the policy rule that asked for it', () => {
  /** The card of request `id`: the clock moves on so the channel's posting pace lets it go. */
  const cardOf = (id: string, from: number) =>
    vi.waitFor(
      async () => {
        clock.now += 1_500;
        await t.runDue();
        const found = t.slack.calls.slice(from).find((c) => c.method === 'chat.postMessage' && c.ok === true && JSON.stringify(c.body.blocks ?? []).includes(id));
        if (!found) throw new Error(`no card for ${id} yet`);
        return found;
      },
      { timeout: 5000, interval: 50 },
    );

  it('shows the rule and its kind from the request\'s context, escaped', async () => {
    const create = (context: Record<string, unknown>) =>
      fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'deploy payments', context }),
      }).then(async (r) => { const j = (await r.json()) as { id: string }; if (r.status !== 201) throw new Error(JSON.stringify(j)); return j; });
    const from = t.slack.calls.length;
    const { id } = await create({ tool: 'deploy-prod', rule: 'deploy-*', rule_kind: 'require_approval' });
    const card = await cardOf(id, from);
    const blocks = JSON.stringify(card.body.blocks);
    expect(blocks).toContain('Asked for by policy rule `deploy-*` (`require_approval`)');

    const next = t.slack.calls.length;
    const hostile = await create({ matched_rule: { match: '<!channel> <https://evil.test|click>' } });
    const second = await cardOf(hostile.id, next);
    const text = JSON.stringify(second.body.blocks);
    expect(text).toContain('Asked for by policy rule');
    expect(text).not.toContain('<!channel>');
    expect(text).not.toContain('<https://evil.test');

    const plain = t.slack.calls.length;
    const none = await create({ version: '1.2' });
    const third = await cardOf(none.id, plain);
    expect(JSON.stringify(third.body.blocks)).not.toContain('Asked for by policy rule');
  });
});
