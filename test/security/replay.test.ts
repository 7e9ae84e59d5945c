/**
 * Kind 5: replayed requests. Whoever sees a copy of a signed Slack request
 * (a proxy log, a browser extension, a shared HAR file) must not be able to
 * send it again within the five minutes its signature stays fresh.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/logger.ts';
import { recordSlackRequest } from '../../src/services/slack-requests.ts';
import { acceptOnce, CLOCK_SKEW_MS, SIGNING_WINDOW_MS } from '../../src/slack/replay.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { buttonPayload, FakeSlack, sign, SIGNING_SECRET, slash, slashForm, TEAM_ID } from '../helpers/slack.ts';

const OWNER = 'U0OWNER';
const ADAM = 'U0ADAM';
const MEMBER = 'U0MEMBER';
const FORM = 'application/x-www-form-urlencoded';

interface Captured {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** Sends exactly these bytes and headers to `/slack/events`, as a copy of a request would be. */
async function send(port: number, request: Captured) {
  const res = await fetch(`http://127.0.0.1:${port}/slack/events`, { method: 'POST', headers: request.headers, body: request.body });
  const raw = await res.text();
  return { status: res.status, raw };
}

function signedSlash(user: string, text: string, timestamp?: number): Captured {
  const body = slashForm(user, text);
  return { body, headers: { 'content-type': FORM, ...sign(body, timestamp) } };
}

describe('a signed Slack request is accepted once', () => {
  let t: TestApp;
  const roleOf = async (user: string, project: string) =>
    (
      (await t.app.db.raw('SELECT role FROM memberships m JOIN projects p ON p.id = m.project_id WHERE user_id = ? AND p.name = ? AND p.deleted_at IS NULL', [user, project]))[0] as { role: string } | undefined
    )?.role ?? null;
  const state = async () => ({
    memberships: await t.app.db.raw('SELECT * FROM memberships ORDER BY project_id, user_id'),
    audit: await t.app.db.raw('SELECT id FROM audit_events'),
    approvals: await t.app.db.raw('SELECT id, status FROM approvals'),
  });

  beforeEach(async () => {
    const slack = new FakeSlack()
      .addUser({ id: OWNER, email: 'owner@acme.test' })
      .addUser({ id: ADAM, email: 'adam@acme.test' })
      .addUser({ id: MEMBER, email: 'member@acme.test' });
    t = await startTestApp({ slack });
    expect((await slash(t.port, OWNER, 'projects create replay')).text).toContain('replay');
    expect((await slash(t.port, OWNER, `members invite replay <@${ADAM}|adam> admin`)).text).toContain('Admin');
  });
  afterEach(async () => {
    await t.stop();
  });

  it('does not make Adam Owner again when `members role replay @adam owner` is re-sent after the Owner demoted him', async () => {
    const promote = signedSlash(OWNER, `members role replay <@${ADAM}|adam> owner`);
    const first = await send(t.port, promote);
    expect(first.status).toBe(200);
    expect(await roleOf(ADAM, 'replay')).toBe('owner');

    expect((await slash(t.port, OWNER, `members role replay <@${ADAM}|adam> admin`)).text).toContain('Admin');
    expect(await roleOf(ADAM, 'replay')).toBe('admin');
    const before = await state();

    const copy = await send(t.port, promote);
    expect(copy.status).toBe(401);
    expect(copy.raw).toBe('');
    expect(await roleOf(ADAM, 'replay')).toBe('admin');
    expect(await state()).toEqual(before);
    expect(t.logs.some((l) => l.includes('replayed slack request refused'))).toBe(true);
  });

  it('does not remove a member again after they were invited back', async () => {
    await slash(t.port, OWNER, `members invite replay <@${MEMBER}> member`);
    const remove = signedSlash(OWNER, `members remove replay <@${MEMBER}>`);
    expect((await send(t.port, remove)).status).toBe(200);
    expect(await roleOf(MEMBER, 'replay')).toBeNull();
    await slash(t.port, OWNER, `members invite replay <@${MEMBER}> member`);
    const before = await state();
    expect((await send(t.port, remove)).status).toBe(401);
    expect(await roleOf(MEMBER, 'replay')).toBe('member');
    expect(await state()).toEqual(before);
  });

  it('refuses a copied button press (block_actions) and a copied event', async () => {
    const press = new URLSearchParams({ payload: JSON.stringify(buttonPayload(ADAM, 'approval_approve', 'apr_missing')) }).toString();
    const captured = { body: press, headers: { 'content-type': FORM, ...sign(press) } };
    expect((await send(t.port, captured)).status).toBe(200);
    expect((await send(t.port, captured)).status).toBe(401);

    const event = JSON.stringify({
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0REPLAY',
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: TEAM_ID, user_id: 'UBOT', is_bot: true }],
      event: { type: 'app_home_opened', user: ADAM, channel: 'D0ADAM', tab: 'home' },
    });
    const home = { body: event, headers: { 'content-type': 'application/json', ...sign(event) } };
    expect((await send(t.port, home)).status).toBe(200);
    const published = () => t.slack.callsTo('views.publish').length;
    await expect.poll(published, { timeout: 5000, interval: 20 }).toBe(1);
    expect((await send(t.port, home)).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(published()).toBe(1);
  });

  it('refuses a copied modal submission, and a copy sent with a retry header added or a query string on the path', async () => {
    const submission = {
      type: 'view_submission',
      team: { id: TEAM_ID },
      user: { id: OWNER },
      api_app_id: 'A0APP',
      view: { id: 'V1', callback_id: 'rotation_revoke_confirm', private_metadata: '{"rotation":999}', state: { values: {} } },
    };
    const body = new URLSearchParams({ payload: JSON.stringify(submission) }).toString();
    const captured = { body, headers: { 'content-type': FORM, ...sign(body) } };
    expect((await send(t.port, captured)).status).toBe(200);
    expect((await send(t.port, captured)).status).toBe(401);
    expect((await send(t.port, { body, headers: { ...captured.headers, 'x-slack-retry-num': '1' } })).status).toBe(401);
    const res = await fetch(`http://127.0.0.1:${t.port}/slack/events?again=1`, { method: 'POST', headers: captured.headers, body });
    expect(res.status).toBe(401);
  });

  it("lets Slack's own retry through: the same body, signed anew, with X-Slack-Retry-Num", async () => {
    const body = slashForm(OWNER, 'projects create retried');
    const now = Math.floor(Date.now() / 1000);
    const original = { body, headers: { 'content-type': FORM, ...sign(body, now - 3) } };
    const retry = { body, headers: { 'content-type': FORM, 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout', ...sign(body, now) } };
    expect((await send(t.port, original)).status).toBe(200);
    expect((await send(t.port, retry)).status).toBe(200);
    expect((await send(t.port, retry)).status).toBe(401);
  });

  it('refuses a correctly signed request stamped more than five minutes ahead, which Bolt alone lets through', async () => {
    const before = await state();
    const ahead = signedSlash(OWNER, 'members role replay <@U0ADAM> owner', Math.floor(Date.now() / 1000) + 10 * 60);
    expect((await send(t.port, ahead)).status).toBe(401);
    expect(await state()).toEqual(before);
  });

  it('records nothing for a request whose signature does not verify', async () => {
    const count = async () => ((await t.app.db.raw('SELECT count(*) AS n FROM slack_requests_seen'))[0] as { n: number }).n;
    const before = await count();
    const forged = signedSlash(OWNER, 'projects create forged');
    forged.headers['x-slack-signature'] = `v0=${'0'.repeat(64)}`;
    expect((await send(t.port, forged)).status).toBe(401);
    const tampered = signedSlash(OWNER, 'projects create tampered');
    expect((await send(t.port, { ...tampered, body: tampered.body.replace('tampered', 'tamperex') })).status).toBe(401);
    expect(await count()).toBe(before);
    // The genuine one still works once.
    expect((await send(t.port, tampered)).status).toBe(200);
    expect(await count()).toBe(before + 1);
  });

  it("still answers Slack's unsigned ssl_check", async () => {
    const res = await send(t.port, { body: 'ssl_check=1&token=legacy', headers: { 'content-type': FORM } });
    expect(res.status).toBe(200);
  });
});

describe('the record of seen requests', () => {
  let dir: string;
  const dbs: Db[] = [];
  const servers: Server[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'jamjet-replay-'));
  });
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
    for (const db of dbs.splice(0)) await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One process's guard on the shared file, with Bolt replaced by a listener that counts. */
  async function process(path: string, clock: { now: number }) {
    const db = openDb(path);
    dbs.push(db);
    await migrateToLatest(db.kysely);
    const handled: string[] = [];
    const listener = acceptOnce(
      (req, res) => {
        handled.push(String(req.headers['x-slack-signature']));
        res.writeHead(200).end();
      },
      {
        signingSecret: SIGNING_SECRET,
        services: { db, now: () => clock.now, jobs: { enqueue: async () => 0, reschedule: async () => {} } },
        log: createLogger('error', () => {}),
        now: () => clock.now,
      },
    );
    const server = createServer(listener);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { db, handled, port: (server.address() as AddressInfo).port };
  }

  it('is shared by two processes on one database', async () => {
    const clock = { now: Date.now() };
    const path = join(dir, 'jamjet.db');
    const a = await process(path, clock);
    const b = await process(path, clock);
    const request = signedSlash(OWNER, 'projects create shared', Math.floor(clock.now / 1000));
    expect((await send(a.port, request)).status).toBe(200);
    expect((await send(b.port, request)).status).toBe(401);
    expect(a.handled).toHaveLength(1);
    expect(b.handled).toHaveLength(0);
  });

  it('forgets a signature once its window is over, when the signature is refused as stale anyway', async () => {
    const clock = { now: Date.now() };
    const a = await process(join(dir, 'jamjet.db'), clock);
    const seconds = Math.floor(clock.now / 1000);
    expect((await send(a.port, signedSlash(OWNER, 'projects create one', seconds))).status).toBe(200);
    const rows = async () => ((await a.db.raw('SELECT count(*) AS n FROM slack_requests_seen'))[0] as { n: number }).n;
    expect(await rows()).toBe(1);
    clock.now += SIGNING_WINDOW_MS + CLOCK_SKEW_MS + 61_000;
    const stale = signedSlash(OWNER, 'projects create one', seconds);
    expect((await send(a.port, stale)).status).toBe(401);
    expect((await send(a.port, signedSlash(OWNER, 'projects create two', Math.floor(clock.now / 1000)))).status).toBe(200);
    // The first row was pruned; only the new one is left.
    expect(await rows()).toBe(1);
  });

  it('inserts or refuses in one statement', async () => {
    const db = openDb(join(dir, 'jamjet.db'));
    dbs.push(db);
    await migrateToLatest(db.kysely);
    expect(await recordSlackRequest(db, 'v0=abc', 1)).toBe(true);
    expect(await recordSlackRequest(db, 'v0=abc', 2)).toBe(false);
    expect(await db.raw('SELECT expires_at FROM slack_requests_seen')).toEqual([{ expires_at: 1 }]);
    // Recording keeps what cached reads remember; no other table may be written that way.
    expect(await db.cached('k', async () => 'remembered')).toBe('remembered');
    await recordSlackRequest(db, 'v0=def', 3);
    expect(await db.cached('k', async () => 'forgotten')).toBe('remembered');
    await expect(db.runUncached(db.q.deleteFrom('projects'))).rejects.toThrow(/only for slack_requests_seen/);
  });
});
