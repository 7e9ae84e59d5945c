import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { settingsAnnounced } from '../helpers/announcements.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, TEAM_ID } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
const READER = 'U0READER';
const OUTSIDER = 'U0OUTSIDE';
const OTHER_OWNER = 'U0OTHER';
const CHANNEL = 'C0APPROVALS';

let t: TestApp;
let key: string;
let clock: { now: number };

interface ApiJson {
  id?: string;
  status?: string;
  reason?: string;
  decided_by?: string;
  decided_at?: string;
  error: { code: string; message: string };
}

/** The JamJet SDK as seen on the wire: a plain fetch client. */
const sdk = {
  async create(body: unknown, apiKey = key, raw?: string) {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: raw ?? JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, json: (await res.json()) as ApiJson };
  },
  async get(id: string, apiKey = key) {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${apiKey}` } });
    return { status: res.status, json: (await res.json()) as ApiJson };
  },
  /** The SDK's loop: poll until approved (return) or rejected (throw with the reason). */
  async waitForDecision(id: string, interval = 25, deadline = 5000) {
    const end = Date.now() + deadline;
    while (Date.now() < end) {
      const { json } = await this.get(id);
      if (json.status === 'approved') return json;
      if (json.status === 'rejected') throw Object.assign(new Error(`rejected: ${json.reason ?? ''}`), { body: json });
      if (json.status === 'expired') throw new Error('expired');
      await new Promise((r) => setTimeout(r, interval));
    }
    throw new Error('no decision');
  },
};

async function cardFor(id: string) {
  return waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? []).includes(id));
}

const pressButton = (user: string, actionId: string, id: string) => interact(t.port, buttonPayload(user, actionId, id, CHANNEL));
const statusOf = async (id: string) => ((await t.app.db.raw('SELECT status FROM approvals WHERE id = ?', [id]))[0] as { status: string }).status;

beforeEach(async () => {
  clock = { now: Date.now() };
  const slack = new FakeSlack();
  for (const id of [OWNER, ADMIN, MEMBER, READER, OUTSIDER, OTHER_OWNER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, ADMIN, MEMBER] });
  t = await startTestApp({ slack, now: () => clock.now, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${ADMIN}> admin`);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `members invite payments <@${READER}> read_only`);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
  await run(t, OTHER_OWNER, 'projects create search');
});
afterEach(async () => {
  await t.stop();
});

describe('an SDK asks, a person decides in Slack', () => {
  it('approves: the polling client sees approved once a signed Approve click arrives', async () => {
    const created = await sdk.create({ action: 'deploy payments to prod', context: { version: '1.4.2', by: 'agent-7' } });
    expect(created.status).toBe(201);
    expect(created.json).toEqual({ id: expect.stringMatching(/^apr_[0-9a-f]{24}$/), status: 'pending' });
    const id = created.json.id as string;
    const card = await cardFor(id);
    expect(card.body.channel).toBe(CHANNEL);
    expect(JSON.stringify(card.body.blocks)).toContain('1.4.2');

    const polling = sdk.waitForDecision(id);
    await new Promise((r) => setTimeout(r, 60));
    expect((await pressButton(MEMBER, 'approval_approve', id)).status).toBe(200);
    const decided = await polling;
    expect(decided).toMatchObject({ id, status: 'approved', decided_by: MEMBER });
    expect(new Date(decided.decided_at as string).getTime()).toBeGreaterThan(0);
    const update = await waitForCall(t, 0, (c) => c.method === 'chat.update');
    expect(JSON.stringify(update.body.blocks)).toContain('Approved');
    expect(JSON.stringify(update.body.blocks)).not.toContain('approval_approve');
  });

  it('rejects with a reason from the modal, and the polling client throws with it', async () => {
    const { json } = await sdk.create({ action: 'drop table users' });
    const id = json.id as string;
    await cardFor(id);
    const polling = sdk.waitForDecision(id).catch((e: Error & { body?: unknown }) => e);
    const from = t.slack.calls.length;
    await pressButton(ADMIN, 'approval_reject', id);
    const modal = await waitForCall(t, from, (c) => c.method === 'views.open');
    const view = modal.body.view as { callback_id: string; private_metadata: string };
    const submitted = await interact(t.port, {
      type: 'view_submission',
      team: { id: TEAM_ID },
      user: { id: ADMIN },
      api_app_id: 'A0APP',
      view: {
        id: 'V1',
        callback_id: view.callback_id,
        private_metadata: view.private_metadata,
        state: { values: { reason: { text: { type: 'plain_text_input', value: 'not on a Friday' } } } },
      },
    });
    expect(submitted.status).toBe(200);
    const error = (await polling) as Error & { body: Record<string, unknown> };
    expect(error.message).toBe('rejected: not on a Friday');
    expect(error.body).toMatchObject({ status: 'rejected', reason: 'not on a Friday', decided_by: ADMIN });
  });

  it('refuses Read-only, non-members and members of another project; the request stays pending', async () => {
    const { json } = await sdk.create({ action: 'rotate database password' });
    const id = json.id as string;
    await cardFor(id);
    for (const [user, expected] of [
      [READER, 'You need to be Member or above in `payments` to decide approval requests; you are Read-only.'],
      [OUTSIDER, 'That project no longer exists, or you have no access to it.'],
      [OTHER_OWNER, 'That project no longer exists, or you have no access to it.'],
    ] as const) {
      for (const action of ['approval_approve', 'approval_reject']) {
        const from = t.slack.calls.length;
        await pressButton(user, action, id);
        const refusal = await waitForCall(t, from, (c) => c.method === 'response_url');
        expect(String(refusal.body.text)).toContain(expected);
        expect(refusal.body.replace_original).toBe(false);
        expect(await statusOf(id)).toBe('pending');
      }
    }
    expect(t.slack.callsTo('views.open').filter((c) => JSON.stringify(c.body).includes(id))).toHaveLength(0);
    expect((await sdk.get(id)).json.status).toBe('pending');
  });

  it('lets exactly one of twenty concurrent presses decide; the card is edited once', async () => {
    const { json } = await sdk.create({ action: 'merge release branch' });
    const id = json.id as string;
    await cardFor(id);
    const presses = Array.from({ length: 20 }, (_, i) =>
      pressButton([OWNER, ADMIN, MEMBER][i % 3]!, i % 2 ? 'approval_approve' : 'approval_reject', id),
    );
    const answers = await Promise.all(presses);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    await vi.waitFor(() => expect(t.slack.callsTo('chat.update')).toHaveLength(1), { timeout: 5000 });
    const decisions = (await t.app.db.raw("SELECT count(*) AS n FROM audit_events WHERE action IN ('approval.approved', 'approval.rejected')"))[0];
    expect(decisions).toEqual({ n: 1 });
    // Reject presses open a modal; approve presses that lost were told who decided.
    await vi.waitFor(() => {
      const told = t.slack.callsTo('response_url').filter((c) => String(c.body.text).includes('already approved'));
      expect(told.length).toBeGreaterThan(0);
    }, { timeout: 5000, interval: 20 });
    await t.runDue();
    expect(t.slack.callsTo('chat.update')).toHaveLength(1);
  });
});

describe('the HTTP API refuses what it should', () => {
  it('expires a request after the project timeout and edits the card', async () => {
    expect((await run(t, MEMBER, 'projects set payments approval-timeout 2m')).text).toContain('2m');
    // The change is announced in the channel first; the card takes the next second there.
    await settingsAnnounced(t, clock);
    clock.now += 1000;
    const { json } = await sdk.create({ action: 'restart workers' });
    const id = json.id as string;
    await cardFor(id);
    clock.now += 2 * 60_000 + 1;
    expect((await sdk.get(id)).json.status).toBe('expired');
    await t.runDue();
    const update = await waitForCall(t, 0, (c) => c.method === 'chat.update');
    expect(JSON.stringify(update.body.blocks)).toContain('Expired');
    await pressButton(MEMBER, 'approval_approve', id);
    const told = await waitForCall(t, 0, (c) => c.method === 'response_url' && String(c.body.text).includes('expired'));
    expect(told).toBeTruthy();
    expect(await statusOf(id)).toBe('expired');
  });

  it('rate-limits one key with 429 and Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 25; i++) {
      const res = await sdk.create({ action: `step ${i}` });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.filter((s) => s === 201)).toHaveLength(20);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    clock.now += 1000;
    expect((await sdk.create({ action: 'later' })).status).toBe(201);
  });

  it('answers 413, 400, 404 and 401 with the error shape', async () => {
    const huge = await sdk.create({ action: 'big', context: { blob: 'x'.repeat(70 * 1024) } });
    expect(huge.status).toBe(413);
    expect(huge.json).toEqual({ error: { code: 'payload_too_large', message: expect.any(String) } });
    // The rest of that body is never read, so the connection is not kept for another request.
    expect(huge.headers.get('connection')).toBe('close');

    const bad = await sdk.create(null, key, '{"action": ');
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('invalid_json');

    for (const body of [{}, { action: '' }, { action: 'x'.repeat(201) }, { action: 'ok', context: [1] }, { action: 3 }, [1]]) {
      const res = await sdk.create(body);
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('invalid_request');
    }

    expect((await sdk.get('apr_000000000000000000000000')).status).toBe(404);

    const { json } = await sdk.create({ action: 'deploy' });
    const keyId = (
      (await t.app.db.raw("SELECT public_id FROM api_keys WHERE project_id = (SELECT id FROM projects WHERE name = 'payments')"))[0] as { public_id: string }
    ).public_id;
    const revokedReply = await run(t, OWNER, `keys revoke payments ${keyId}`);
    expect(revokedReply.text).toContain('is revoked');
    const revoked = await sdk.get(json.id as string);
    expect(revoked.status).toBe(401);
    expect((await sdk.create({ action: 'again' })).status).toBe(401);
  });

  it('hides another project’s requests: 404 for a key of another project', async () => {
    const { json } = await sdk.create({ action: 'deploy' });
    const otherKey = await reveal(t, OTHER_OWNER);
    expect((await sdk.get(json.id as string, otherKey)).status).toBe(404);
  });
});

describe('secrets an agent sends by mistake', () => {
  it('are blanked on the card and in the audit trail', async () => {
    const leaked = `jj_${'ab'.repeat(16)}`;
    const { json } = await sdk.create({ action: `use ${leaked} to deploy`, context: { token: 'xoxb-123-456-abc', key: leaked } });
    const card = await cardFor(json.id as string);
    expect(card.raw).not.toContain(leaked);
    expect(card.raw).not.toContain('xoxb-123');
    expect(JSON.stringify(card.body)).toContain('jj_[redacted]');
    const audit = JSON.stringify(await t.app.db.raw('SELECT details FROM audit_events'));
    expect(audit).not.toContain(leaked);
    const stored = JSON.stringify(await t.app.db.raw('SELECT action, context FROM approvals'));
    expect(stored).not.toContain(leaked);
    expect(stored).not.toContain('xoxb-123');
    expect((await run(t, READER, 'approvals list payments')).text).not.toContain(leaked);
  });
});

describe('Slack failing', () => {
  it('retries the card post from the job queue until the card appears', async () => {
    let failures = 2;
    t.slack.on('chat.postMessage', (b) =>
      b.channel === CHANNEL && failures-- > 0 ? { ok: false, error: 'internal_error' } : { ok: true, channel: b.channel, ts: '1700000099.000100' },
    );
    const { json, status } = await sdk.create({ action: 'deploy' });
    expect(status).toBe(201);
    const id = json.id as string;
    // The first try failed and the job is back in the queue.
    await vi.waitFor(async () =>
      expect((await t.app.db.raw("SELECT attempts, status FROM jobs WHERE kind = 'approval.post'"))[0]).toEqual({
        attempts: 1,
        status: 'pending',
      }),
      { timeout: 5000, interval: 20 },
    );
    for (let i = 0; i < 2; i++) {
      clock.now += 10 * 60_000;
      await t.runDue();
    }
    const cards = t.slack.callsTo('chat.postMessage').filter((c) => c.body.channel === CHANNEL);
    expect(cards).toHaveLength(3);
    expect(await t.app.db.raw('SELECT channel FROM approval_cards WHERE approval_id = ?', [id])).toEqual([{ channel: CHANNEL }]);
  });

  it('sends the card to the Owners by DM when no channel is set', async () => {
    await run(t, OTHER_OWNER, `members invite search <@${ADMIN}> owner`);
    const otherKey = await reveal(t, OTHER_OWNER);
    const { json } = await sdk.create({ action: 'reindex' }, otherKey);
    await vi.waitFor(() => {
      const dms = t.slack.callsTo('chat.postMessage').filter((c) => JSON.stringify(c.body.blocks ?? []).includes(json.id as string));
      expect(dms.map((c) => c.body.channel).sort()).toEqual([ADMIN, OTHER_OWNER].sort());
      expect(JSON.stringify(dms[0]!.body.blocks)).toContain('No approvals channel is set');
    }, { timeout: 5000, interval: 20 });
  });
});

describe('App Home', () => {
  it('shows your projects, the approvals you may decide and rotations in overlap; its buttons decide too', async () => {
    const { json } = await sdk.create({ action: 'ship it' });
    const id = json.id as string;
    await run(t, OWNER, 'keys rotate payments --overlap 2h');
    const open = (user: string) =>
      interactEvent({ type: 'app_home_opened', user, tab: 'home', channel: `D${user}`, event_ts: '1700000000.000100' });

    for (const [user, sees] of [
      [MEMBER, true],
      [READER, false],
    ] as const) {
      const from = t.slack.calls.length;
      expect((await open(user)).status).toBe(200);
      const publish = await waitForCall(t, from, (c) => c.method === 'views.publish' && c.body.user_id === user);
      const view = JSON.stringify(publish.body.view);
      expect(view).toContain('`payments`');
      expect(view).toContain('Rotations in their overlap* (1)');
      expect(view.includes(id)).toBe(sees);
    }

    const payload = buttonPayload(MEMBER, 'approval_approve', id);
    const { response_url: _url, container: _container, channel: _channel, message: _message, ...fromHome } = payload;
    const from = t.slack.calls.length;
    await interact(t.port, { ...fromHome, container: { type: 'view', view_id: 'VHOME' }, view: { id: 'VHOME', type: 'home' } });
    const refreshed = await waitForCall(t, from, (c) => c.method === 'views.publish');
    expect(JSON.stringify(refreshed.body.view)).toContain('Approved.');
    expect(await statusOf(id)).toBe('approved');
  });
});

/** An Events API callback, signed, as Slack sends it. */
async function interactEvent(event: Record<string, unknown>) {
  const { sign } = await import('../helpers/slack.ts');
  const body = JSON.stringify({
    token: 'legacy',
    team_id: TEAM_ID,
    api_app_id: 'A0APP',
    type: 'event_callback',
    event_id: `Ev${Math.random().toString(36).slice(2)}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: TEAM_ID, user_id: 'UBOT', is_bot: true }],
    event,
  });
  return fetch(`http://127.0.0.1:${t.port}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...sign(body) },
    body,
  });
}
