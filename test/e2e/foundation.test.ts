import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBrokenLink } from '../../src/services/audit.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack, interact, slash, TEAM_ID } from '../helpers/slack.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const MEMBER = 'U0MEMBER';
const READER = 'U0READER';
const OUTSIDER = 'U0OUTSIDE';
const RESCUER = 'U0RESCUE';

let t: TestApp;
const run = (user: string, text: string) => slash(t.port, user, text);

/** Everything a command could change, to prove a refusal changed nothing. */
async function dbState() {
  const q = async (sql: string) => await t.app.db.raw(sql);
  return {
    projects: await q('SELECT * FROM projects ORDER BY id'),
    memberships: await q('SELECT * FROM memberships ORDER BY project_id, user_id'),
    invites: await q('SELECT * FROM pending_invites ORDER BY id'),
    audit: await q('SELECT id FROM audit_events'),
  };
}

beforeEach(async () => {
  const slack = new FakeSlack()
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: ADMIN, email: 'admin@acme.test' })
    .addUser({ id: MEMBER, email: 'member@acme.test' })
    .addUser({ id: READER, email: 'reader@acme.test' })
    .addUser({ id: OUTSIDER, email: 'outsider@acme.test' })
    .addUser({ id: 'U0BOTTY', is_bot: true })
    .withoutUser('U0GHOST')
    .addChannel({ id: 'C0OPS', members: [BOT_USER, MEMBER] });
  t = await startTestApp({ slack, env: { JAMJET_ADMIN_USERS: RESCUER } });
  await run(OWNER, 'projects create payments');
  await run(OWNER, `members invite payments <@${ADMIN}|admin> admin`);
  await run(OWNER, `members invite payments <@${MEMBER}> member`);
  await run(OWNER, `members invite payments <@${READER}|reader> read_only`);
});
afterEach(async () => {
  await t.stop();
});

describe('signed requests', () => {
  it('answers a signed slash command through the real receiver', async () => {
    const reply = await run(OWNER, 'whoami');
    expect(reply.status).toBe(200);
    expect(reply.json?.response_type).toBe('ephemeral');
    expect(reply.text).toContain('`payments`: Owner');
  });

  it('refuses a forged signature', async () => {
    const before = await dbState();
    const reply = await slash(t.port, OWNER, 'projects create forged', { secret: 'not-the-secret' });
    expect(reply.status).toBe(401);
    expect(await dbState()).toEqual(before);
  });

  it('refuses a timestamp older than five minutes', async () => {
    const before = await dbState();
    const reply = await slash(t.port, OWNER, 'projects create replayed', { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(reply.status).toBe(401);
    expect(await dbState()).toEqual(before);
  });

  it('refuses a request from another workspace', async () => {
    const before = await dbState();
    const reply = await slash(t.port, OWNER, 'projects create elsewhere', { team: 'T0OTHER' });
    expect(reply.text).toContain('another Slack workspace');
    expect(await dbState()).toEqual(before);
    expect(TEAM_ID).not.toBe('T0OTHER');
  });

  it('serves /healthz on the same port', async () => {
    const res = await fetch(`http://127.0.0.1:${t.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });
});

describe('help and whoami', () => {
  it('lists every command with its usage', async () => {
    // Every page of it: the list is longer than one answer.
    let text = (await run(OUTSIDER, 'help')).text;
    for (let page = 2; page < 10 && text.includes(`help --page ${page}\``); page++) {
      text += (await run(OUTSIDER, `help --page ${page}`)).text;
    }
    const reply = { text };
    for (const usage of [
      'projects create <name> [--envs dev,staging,prod]',
      'members invite <project> <@user|email> [owner|admin|member|read_only]',
      'policies add <project> <block|allow|require_approval> <tool-glob> [--position N]',
      'audit <project> [--limit 20]',
      'whoami',
    ]) {
      expect(reply.text).toContain(`/jamjet ${usage}`);
    }
    expect((await run(OUTSIDER, '')).text).toContain('/jamjet projects list');
  });

  it('lists one group', async () => {
    const reply = await run(OUTSIDER, 'help members');
    expect(reply.text).toContain('/jamjet members remove <project> <@user|email>');
    expect(reply.text).not.toContain('/jamjet projects create');
  });

  it('shows each person their own roles', async () => {
    expect((await run(READER, 'whoami')).text).toContain('`payments`: Read-only');
    expect((await run(OUTSIDER, 'whoami')).text).toContain('You belong to no project yet');
    expect((await run(RESCUER, 'whoami')).text).toContain('You are in JAMJET_ADMIN_USERS (set by whoever runs the bot; not a Slack admin role)');
  });

  it('names JAMJET_ADMIN_USERS, not a Slack admin, where it grants Owner everywhere', async () => {
    expect((await run(RESCUER, 'projects list')).text).toMatch(/`payments`: Owner through JAMJET_ADMIN_USERS/);
    expect((await run(OUTSIDER, 'help projects')).text).toContain('people in JAMJET_ADMIN_USERS see all');
    for (const who of [RESCUER, OUTSIDER]) {
      expect((await run(who, 'help')).text).not.toMatch(/workspace admin/i);
      expect((await run(who, 'whoami')).text).not.toMatch(/workspace admin/i);
    }
  });
});

describe('projects', () => {
  it('creates a project per environment', async () => {
    const reply = await run(MEMBER, 'projects create shop --envs dev,staging,prod');
    expect(reply.text).toContain('`shop-dev`, `shop-staging`, `shop-prod`');
    const list = await run(MEMBER, 'projects list');
    expect(list.text).toContain('`shop-prod`: Owner');
    expect(list.text).toContain('`payments`: Member');
  });

  it('lists only projects you belong to; admins see all', async () => {
    await run(OUTSIDER, 'projects create side-project');
    expect((await run(OWNER, 'projects list')).text).not.toContain('side-project');
    const all = await run(RESCUER, 'projects list');
    expect(all.text).toContain('`side-project`');
    expect(all.text).toContain('`payments`');
  });

  it('shows info to every role and nothing to an outsider', async () => {
    for (const user of [OWNER, ADMIN, MEMBER, READER]) {
      const reply = await run(user, 'projects info payments');
      expect(reply.text).toContain(`Owners: <@${OWNER}>`);
      expect(reply.text).toContain('Members: 4');
    }
    const refused = await run(OUTSIDER, 'projects info payments');
    expect(refused.text).toContain('You have no access to project `payments`, or it does not exist.');
    expect(refused.text).not.toContain(OWNER);
    const missing = await run(OUTSIDER, 'projects info nothing-here');
    expect(missing.text).toContain('You have no access to project `nothing-here`, or it does not exist.');
  });

  it('deletes only through the Owner and the typed-name modal', async () => {
    for (const user of [ADMIN, MEMBER, READER]) {
      const reply = await run(user, 'projects delete payments');
      expect(reply.text).toMatch(/You need to be Owner in `payments` to delete it/);
    }
    expect(t.slack.callsTo('views.open')).toHaveLength(0);

    const reply = await run(OWNER, 'projects delete payments');
    expect(reply.raw).toBe('');
    const [open] = t.slack.callsTo('views.open');
    expect(open!.body.trigger_id).toMatch(new RegExp(`^trigger-${OWNER}-s\\d+$`));
    const view = open!.body.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe('project_delete');

    const submit = (user: string, typed: string) =>
      interact(t.port, {
        type: 'view_submission',
        team: { id: TEAM_ID },
        user: { id: user },
        api_app_id: 'A0APP',
        view: {
          id: 'V1',
          callback_id: 'project_delete',
          private_metadata: view.private_metadata,
          state: { values: { confirm: { name: { type: 'plain_text_input', value: typed } } } },
        },
      });
    const wrong = await submit(OWNER, 'paymnts');
    expect(wrong.json).toMatchObject({ response_action: 'errors' });
    expect((await run(OWNER, 'projects list')).text).toContain('payments');

    const sneaky = await submit(ADMIN, 'payments');
    expect(sneaky.json).toMatchObject({ response_action: 'errors' });

    const done = await submit(OWNER, 'payments');
    expect(done.json).toMatchObject({ response_action: 'update' });
    expect((await run(OWNER, 'projects list')).text).toContain('You belong to no project yet');
    const audit = (await t.app.db.raw("SELECT count(*) AS n FROM audit_events WHERE action = 'project.deleted'"))[0];
    expect(audit).toEqual({ n: 1 });
  });

  it('sets the approvals channel and timeout for Members and above', async () => {
    expect((await run(READER, 'projects channel payments <#C0OPS|ops>')).text).toContain('You need to be Member or above');
    expect((await run(MEMBER, 'projects channel payments <#C0OPS|ops>')).text).toContain('<#C0OPS>');
    expect((await run(ADMIN, 'projects set payments approval-timeout 2h')).text).toContain('expire after 2h');
    const info = await run(READER, 'projects info payments');
    expect(info.text).toContain('Approvals channel: <#C0OPS>');
    expect(info.text).toContain('Approval timeout: 2h');
  });
});

describe('members', () => {
  it('invites by mention and tells the invitee by DM', async () => {
    const dms = t.slack.callsTo('chat.postMessage').filter((c) => c.body.channel !== OWNER);
    expect(dms.map((c) => c.body.channel)).toEqual([ADMIN, MEMBER, READER]);
    expect(String(dms[0]!.body.text)).toContain('`payments` as Admin');
    expect((await run(OWNER, 'members list payments')).text).toContain(`<@${READER}>: Read-only`);
  });

  it('invites by e-mail: a workspace member at once, anyone else when they first use /jamjet', async () => {
    t.slack.addUser({ id: 'U0KNOWN', email: 'known@acme.test' });
    const known = await run(ADMIN, 'members invite payments <mailto:known@acme.test|known@acme.test> member');
    expect(known.text).toContain('<@U0KNOWN> is now Member');

    const later = await run(ADMIN, 'members invite payments newbie@acme.test read_only');
    expect(later.text).toContain('first time they use');
    expect((await run(ADMIN, 'members list payments')).text).toContain('newbie@acme.test: Read-only');

    t.slack.addUser({ id: 'U0NEWBIE', email: 'Newbie@acme.test' });
    const first = await run('U0NEWBIE', 'whoami');
    expect(first.text).toContain('You joined `payments` as Read-only');
    expect(first.text).toContain('`payments`: Read-only');
    const second = await run('U0NEWBIE', 'whoami');
    expect(second.text).not.toContain('You joined');
  });

  it('changes roles and removes members, Owner-only for the Owner role', async () => {
    expect((await run(ADMIN, `members role payments <@${MEMBER}> admin`)).text).toContain('is now Admin in `payments` (was Member)');
    const before = await dbState();
    expect((await run(ADMIN, `members role payments <@${MEMBER}> owner`)).text).toContain('You need to be Owner');
    expect((await run(ADMIN, `members invite payments <@${OUTSIDER}> owner`)).text).toContain('You need to be Owner');
    expect((await run(ADMIN, `members remove payments <@${OWNER}>`)).text).toContain('You need to be Owner');
    expect(await dbState()).toEqual(before);
    expect((await run(ADMIN, `members remove payments <@${READER}>`)).text).toContain('no longer belongs');
    expect((await run(READER, 'projects info payments')).text).toContain('You have no access');
  });

  it('refuses Members and Read-only managing members', async () => {
    const before = await dbState();
    for (const user of [MEMBER, READER]) {
      expect((await run(user, `members invite payments <@${OUTSIDER}>`)).text).toContain('You need to be Admin or above');
      expect((await run(user, `members role payments <@${READER}> member`)).text).toContain('You need to be Admin or above');
      expect((await run(user, `members remove payments <@${READER}>`)).text).toContain('You need to be Admin or above');
    }
    expect(await dbState()).toEqual(before);
  });
});

describe('audit', () => {
  it('shows the latest events to members, with a limit, and keeps the chain intact', async () => {
    const reply = await run(READER, 'audit payments --limit 2');
    expect(reply.text).toContain('latest 2');
    expect(reply.text).toContain('`member.added`');
    expect(reply.text).not.toContain('`project.created`');
    expect((await run(READER, 'audit payments')).text).toContain('`project.created`');
    expect((await run(OUTSIDER, 'audit payments')).text).toContain('You have no access');
    expect(await findBrokenLink(t.app.db)).toBeNull();
  });
});

describe('bad input changes nothing and says why', () => {
  const cases: [string, string, RegExp][] = [
    [OWNER, 'projcts list', /There is no command `projcts`\. Did you mean `projects`\?/],
    [OWNER, 'projects lst', /`projects` has no `lst`\. Did you mean `projects list`\?/],
    [OWNER, 'projects', /Say what to do with `projects`: create, list/],
    [OWNER, 'projects create', /Missing <name>\./],
    [OWNER, 'members role payments', /Missing <user> <role>\./],
    [OWNER, 'projects create Bad_Name', /`Bad_Name` is not a valid project name/],
    [OWNER, 'projects create <!channel>', /`&lt;!channel&gt;` is not a valid project name/],
    [OWNER, 'projects create payments', /A project named `payments` already exists/],
    [OWNER, 'projects create shop --envs dev,,prod', /is not a list of environments/],
    [OWNER, 'projects create shop --colour red', /`--colour` is not an option/],
    [OWNER, 'projects info payments extra', /Unexpected `extra`/],
    [OWNER, 'members invite payments <@U0GHOST>', /I cannot find <@U0GHOST> in this workspace/],
    [OWNER, 'members invite payments <@U0BOTTY>', /is an app, not a person/],
    [OWNER, 'members invite payments not-an-address', /neither a Slack user nor an e-mail address/],
    [OWNER, `members invite payments <@${MEMBER}> boss`, /`boss` is not a role/],
    [OWNER, `members invite payments <@${MEMBER}>`, /already Member in `payments`/],
    [OWNER, `members remove payments <@${OWNER}>`, /last Owner of `payments` and cannot be removed/],
    [OWNER, `members role payments <@${OWNER}> admin`, /last Owner of `payments`/],
    [OUTSIDER, 'members list payments', /You have no access to project `payments`/],
    [OUTSIDER, `members invite payments <@${OUTSIDER}> owner`, /You have no access to project `payments`/],
    [ADMIN, `members role payments <@${MEMBER}> owner`, /You need to be Owner in `payments`/],
    [OWNER, 'projects set payments approval-timeout soon', /`soon` is not a duration/],
    [OWNER, 'projects set payments colour 2h', /`colour` is not a setting/],
    [OWNER, 'projects channel payments general', /`general` is not a channel/],
    [OWNER, 'audit payments --limit 0', /The limit must be a whole number from 1 to 100/],
  ];
  it.each(cases)('%s: /jamjet %s', async (user, text, expected) => {
    const before = await dbState();
    const reply = await run(user, text);
    expect(reply.status).toBe(200);
    expect(reply.text).toMatch(expected);
    expect(reply.text).toMatch(/Usage: `\/jamjet [^`]+`/);
    expect(reply.text.split('\n')).toHaveLength(2);
    expect(await dbState()).toEqual(before);
  });
});
