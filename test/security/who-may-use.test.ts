/**
 * Kind 11: who may use the bot. Guests, deactivated accounts, bots and
 * people from another organisation get one sentence and nothing else, for
 * commands, buttons, modals and App Home alike.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { REFUSALS, STANDING_TTL_MS, Standings, standingOf } from '../../src/slack/who-may-use.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { buttonPayload, FakeSlack, interact, sign, slash, TEAM_ID } from '../helpers/slack.ts';

const OWNER = 'U0OWNER';
const GUEST = 'U0GUEST';
const SINGLE = 'U0SINGLE';
const GONE = 'U0GONE';
const BOT = 'U0BOTUSER';
const VISITOR = 'U0VISITOR';
const GHOST = 'U0GHOST';

const REFUSED: [string, string][] = [
  [GUEST, REFUSALS.guest],
  [SINGLE, REFUSALS.guest],
  [GONE, REFUSALS.deactivated],
  [BOT, REFUSALS.bot],
  [VISITOR, REFUSALS.external],
  [GHOST, REFUSALS.unknown],
];

let t: TestApp;
let clock: { now: number };
afterEach(async () => {
  await t?.stop();
});

function fakeSlack() {
  return new FakeSlack()
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: GUEST, is_restricted: true })
    .addUser({ id: SINGLE, is_restricted: true, is_ultra_restricted: true })
    .addUser({ id: GONE, deleted: true })
    .addUser({ id: BOT, is_bot: true })
    .addUser({ id: VISITOR, team_id: 'T0PARTNER' })
    .withoutUser(GHOST);
}

async function start(slack = fakeSlack(), env: Record<string, string> = {}) {
  clock = { now: Date.now() };
  t = await startTestApp({ slack, now: () => clock.now, env });
}

const state = async () => ({
  projects: await t.app.db.raw('SELECT * FROM projects ORDER BY id'),
  memberships: await t.app.db.raw('SELECT * FROM memberships ORDER BY project_id, user_id'),
  audit: await t.app.db.raw('SELECT id FROM audit_events'),
  approvals: await t.app.db.raw('SELECT id, status FROM approvals'),
});

describe('slash commands', () => {
  it.each(REFUSED)('refuses %s `projects create` with one sentence, and changes nothing', async (user, sentence) => {
    await start();
    const before = await state();
    const reply = await slash(t.port, user, 'projects create guestproject');
    expect(reply.status).toBe(200);
    expect(reply.json?.response_type).toBe('ephemeral');
    expect(reply.text).toBe(`:no_entry: ${sentence}`);
    expect(await state()).toEqual(before);
    for (const text of ['help', 'whoami', 'projects list']) expect((await slash(t.port, user, text)).text).toBe(`:no_entry: ${sentence}`);
  });

  it('still serves full members, including ones the test never described', async () => {
    await start();
    expect((await slash(t.port, OWNER, 'projects create payments')).text).toContain('payments');
    expect((await slash(t.port, 'U0SOMEONE', 'projects create other')).text).toContain('other');
  });

  it('will not give a guest a role, by mention or by address', async () => {
    const slack = fakeSlack().addUser({ id: GUEST, email: 'guest@partner.test', is_restricted: true });
    await start(slack);
    await slash(t.port, OWNER, 'projects create payments');
    const before = await state();
    expect((await slash(t.port, OWNER, `members invite payments <@${GUEST}|guest> admin`)).text).toContain('is a Slack guest, and guests cannot use JamJet');
    expect((await slash(t.port, OWNER, 'members invite payments <mailto:guest@partner.test|guest@partner.test>')).text).toContain(
      'belongs to a Slack guest',
    );
    expect(await state()).toEqual(before);
  });

  it('serves a member of the same Enterprise Grid organisation from another of its workspaces, not one from a partner organisation', async () => {
    const slack = fakeSlack()
      .on('auth.test', () => ({ ok: true, team_id: TEAM_ID, user_id: 'UBOT', bot_id: 'BBOT', is_enterprise_install: true, enterprise_id: 'E0ACME' }))
      .addUser({ id: 'W0SISTER', team_id: 'T0SISTER', enterprise_id: 'E0ACME' })
      .addUser({ id: 'W0RIVAL', team_id: 'T0RIVAL', enterprise_id: 'E0RIVAL' });
    await start(slack);
    expect((await slash(t.port, 'W0SISTER', 'projects create sister')).text).toContain('sister');
    expect((await slash(t.port, 'W0RIVAL', 'projects create rival')).text).toBe(`:no_entry: ${REFUSALS.external}`);
  });

  it('refuses someone who was demoted to guest once the short memory of who they are runs out', async () => {
    const slack = fakeSlack();
    await start(slack);
    expect((await slash(t.port, OWNER, 'projects create payments')).text).toContain('payments');
    slack.addUser({ id: OWNER, email: 'owner@acme.test', is_restricted: true });
    // Within the memory: one users.info answer serves every command (each replica has its own memory).
    const asked = () => slack.callsTo('users.info').filter((c) => c.body.user === OWNER).length;
    const before = asked();
    await slash(t.port, OWNER, 'projects list');
    await slash(t.port, OWNER, 'projects list');
    const memorised = asked();
    expect(memorised).toBe(before + t.replicas.length - 1);
    clock.now += STANDING_TTL_MS + 1;
    const snapshot = await state();
    expect((await slash(t.port, OWNER, 'projects delete payments')).text).toBe(`:no_entry: ${REFUSALS.guest}`);
    expect(asked()).toBe(memorised + 1);
    expect(await state()).toEqual(snapshot);
  });

  it.each([
    ['an outage', () => [500, { ok: false, error: 'internal_error' }] as [number, Record<string, unknown>]],
    ['a rate limit', () => [429, { ok: false, error: 'ratelimited' }, { 'retry-after': '30' }] as [number, Record<string, unknown>, Record<string, string>]],
    ['an unexpected answer', () => ({ ok: true, user: 'not an object' })],
  ])('fails closed when users.info gives %s, with a sentence to try again, and asks again next time', async (_what, answer) => {
    const slack = fakeSlack();
    await start(slack);
    const normal = slack;
    let failing = true;
    const real = (body: Record<string, unknown>) => ({ ok: true, user: { id: body.user, team_id: TEAM_ID } });
    normal.on('users.info', (body) => (failing ? answer() : real(body)));
    const before = await state();
    const reply = await slash(t.port, 'U0NEWCOMER', 'projects create newcomer');
    if (_what === 'an unexpected answer') expect(reply.text).toBe(`:no_entry: ${REFUSALS.unknown}`);
    else expect(reply.text).toBe(`:no_entry: ${REFUSALS.unavailable}`);
    expect(await state()).toEqual(before);
    failing = false;
    if (_what === 'an unexpected answer') clock.now += STANDING_TTL_MS + 1;
    expect((await slash(t.port, 'U0NEWCOMER', 'projects create newcomer')).text).toContain('newcomer');
  });
});

describe('buttons, modals and App Home', () => {
  it('tells a guest who presses a button, ephemerally, and decides nothing', async () => {
    await start();
    const before = await state();
    const res = await interact(t.port, buttonPayload(GUEST, 'approval_approve', 'apr_0000'));
    expect(res.status).toBe(200);
    const told = () => t.slack.callsTo('response_url').filter((c) => c.body.text === `:no_entry: ${REFUSALS.guest}`);
    await expect.poll(() => told().length, { timeout: 5000, interval: 20 }).toBe(1);
    expect(told()[0]!.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
    expect(await state()).toEqual(before);
  });

  it('answers a deactivated account submitting the delete modal with the sentence, and deletes nothing', async () => {
    const slack = fakeSlack();
    await start(slack);
    await slash(t.port, OWNER, 'projects create payments');
    slack.addUser({ id: OWNER, deleted: true });
    clock.now += STANDING_TTL_MS + 1;
    const before = await state();
    const res = await interact(t.port, {
      type: 'view_submission',
      team: { id: TEAM_ID, domain: 'acme' },
      user: { id: OWNER, username: 'owner', team_id: TEAM_ID },
      api_app_id: 'A0APP',
      trigger_id: 'trigger-deleted',
      view: {
        id: 'V9',
        type: 'modal',
        callback_id: 'project_delete',
        private_metadata: JSON.stringify({ project: 'payments' }),
        state: { values: { confirm: { name: { type: 'plain_text_input', value: 'payments' } } } },
      },
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ response_action: 'update' });
    expect(JSON.stringify(res.json)).toContain(REFUSALS.deactivated);
    expect(await state()).toEqual(before);
  });

  it('shows a Slack Connect visitor who opens App Home only the sentence, and a Home button press too', async () => {
    await start();
    const body = JSON.stringify({
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0VISIT',
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: TEAM_ID, user_id: 'UBOT', is_bot: true }],
      event: { type: 'app_home_opened', user: VISITOR, channel: 'D0VISIT', tab: 'home' },
    });
    const res = await fetch(`http://127.0.0.1:${t.port}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sign(body) },
      body,
    });
    expect(res.status).toBe(200);
    await expect.poll(() => t.slack.callsTo('views.publish').length, { timeout: 5000, interval: 20 }).toBe(1);
    const view = JSON.stringify(t.slack.callsTo('views.publish')[0]!.body);
    expect(view).toContain(REFUSALS.external);
    expect(view).not.toContain('Approvals');

    const press = { ...buttonPayload(VISITOR, 'approval_approve', 'apr_0000'), container: { type: 'view', view_id: 'VHOME' }, view: { id: 'VHOME', type: 'home' } };
    delete (press as { response_url?: string }).response_url;
    expect((await interact(t.port, press)).status).toBe(200);
    await expect.poll(() => t.slack.callsTo('views.publish').length, { timeout: 5000, interval: 20 }).toBe(2);
    expect(JSON.stringify(t.slack.callsTo('views.publish')[1]!.body)).toContain(REFUSALS.external);
  });
});

describe('standings', () => {
  const home = { teamId: 'T1', enterpriseId: null };
  it.each<[Record<string, unknown>, string]>([
    [{ team_id: 'T1' }, 'member'],
    [{ team_id: 'T1', is_restricted: true }, 'guest'],
    [{ team_id: 'T1', is_ultra_restricted: true }, 'guest'],
    [{ team_id: 'T1', deleted: true }, 'deactivated'],
    [{ team_id: 'T1', is_bot: true }, 'bot'],
    [{ team_id: 'T2' }, 'external'],
    [{ team_id: 'T1', is_stranger: true }, 'external'],
    [{}, 'external'],
    [{ team_id: 'T1', is_restricted: 'yes' }, 'unknown'],
  ])('reads %j as %s', (fields, standing) => {
    expect(standingOf({ id: 'U1', ...fields }, home)).toBe(standing);
  });

  it('asks Slack once for many requests of one person at the same moment', async () => {
    let asked = 0;
    const standings = new Standings(
      async (id) => {
        asked++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        return { id, team_id: 'T1' };
      },
      home,
      () => 0,
      createLogger('error', () => {}),
    );
    const all = await Promise.all(Array.from({ length: 20 }, () => standings.of('U1')));
    expect(new Set(all)).toEqual(new Set(['member']));
    expect(asked).toBe(1);
  });
});

describe('invite targets', () => {
  it('will not give a Slack Connect visitor a role, by mention or by address, on a plain or an Enterprise Grid install', async () => {
    const slack = fakeSlack()
      .addUser({ id: 'U0PARTNER', email: 'p@partner.test', team_id: 'T0PARTNER' })
      .addUser({ id: 'W0RIVAL', email: 'r@rival.test', team_id: 'T0RIVAL', enterprise_id: 'E0RIVAL' });
    await start(slack);
    await slash(t.port, OWNER, 'projects create payments');
    const members = async () => await t.app.db.raw('SELECT user_id, role FROM memberships ORDER BY user_id');
    const before = await members();
    expect((await slash(t.port, OWNER, 'members invite payments <@U0PARTNER|p> owner')).text).toContain('belongs to another Slack organisation');
    expect((await slash(t.port, OWNER, 'members invite payments <@W0RIVAL>')).text).toContain('belongs to another Slack organisation');
    expect((await slash(t.port, OWNER, 'members invite payments <mailto:p@partner.test|p@partner.test> admin')).text).toContain(
      'someone from another Slack organisation',
    );
    expect(await members()).toEqual(before);
    expect((await t.app.db.raw('SELECT count(*) AS n FROM pending_invites'))[0]).toEqual({ n: 0 });
  });

  it('will not give Slackbot a role, whose users.info says is_bot: false', async () => {
    await start(fakeSlack().addUser({ id: 'USLACKBOT', is_bot: false }));
    await slash(t.port, OWNER, 'projects create payments');
    const before = await state();
    expect((await slash(t.port, OWNER, 'members invite payments <@USLACKBOT|slackbot> owner')).text).toContain('is an app, not a person');
    expect(await state()).toEqual(before);
  });
});

describe('role targets', () => {
  it('raises no one Slack says may not use JamJet, so a deactivated account cannot become the Owner left; lowering still works', async () => {
    const slack = fakeSlack().addUser({ id: 'U0BOB', email: 'bob@acme.test' });
    await start(slack);
    await slash(t.port, OWNER, 'projects create payments');
    await slash(t.port, OWNER, 'members invite payments <@U0BOB> admin');
    // Bob leaves the company; later, in Slack, a colleague of his becomes a guest and another a partner's.
    slack.addUser({ id: 'U0BOB', email: 'bob@acme.test', deleted: true });
    clock.now += STANDING_TTL_MS;
    const before = await state();
    expect((await slash(t.port, OWNER, 'members role payments <@U0BOB> owner')).text).toContain('has no active account in this workspace');
    expect(await state()).toEqual(before);
    expect((await slash(t.port, OWNER, 'members role payments <@U0BOB> read_only')).text).toContain('is now Read-only');
    slack.addUser({ id: 'U0BOB', email: 'bob@acme.test', team_id: 'T0PARTNER' });
    expect((await slash(t.port, OWNER, 'members role payments <@U0BOB> member')).text).toContain('belongs to another Slack organisation');
    slack.addUser({ id: 'U0BOB', email: 'bob@acme.test', is_restricted: true });
    expect((await slash(t.port, OWNER, 'members role payments <@U0BOB> admin')).text).toContain('is a Slack guest');
    expect((await t.app.db.raw("SELECT role FROM memberships WHERE user_id = 'U0BOB'"))[0]).toEqual({ role: 'read_only' });
  });

  it('tells someone without a say in the project nothing about the member', async () => {
    const slack = fakeSlack().addUser({ id: 'U0BOB', email: 'bob@acme.test' }).addUser({ id: 'U0EVE', email: 'eve@acme.test' });
    await start(slack);
    await slash(t.port, OWNER, 'projects create payments');
    await slash(t.port, OWNER, 'members invite payments <@U0BOB> member');
    slack.addUser({ id: 'U0BOB', deleted: true });
    const reply = (await slash(t.port, 'U0EVE', 'members role payments <@U0BOB> owner')).text;
    expect(reply).toContain('no access');
    expect(reply).not.toContain('active account');
  });
});
