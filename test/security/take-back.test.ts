/**
 * Kind 6, no way to take something back: what one command grants, another
 * can withdraw.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack } from '../helpers/slack.ts';
import { run } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const ADMIN = 'U0ADMIN';
const NEWBIE = 'U0NEWBIE';
const CHANNEL = 'C0APPROVALS';

let t: TestApp;

beforeEach(async () => {
  const slack = new FakeSlack()
    .addUser({ id: OWNER, email: 'owner@acme.test' })
    .addUser({ id: ADMIN, email: 'admin@acme.test' })
    .addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  t = await startTestApp({ slack });
  await run(t, OWNER, 'projects create demo');
  await run(t, OWNER, `members invite demo <@${ADMIN}> admin`);
});
afterEach(async () => {
  await t.stop();
});

const pending = async () => await t.app.db.raw('SELECT email, role FROM pending_invites ORDER BY id');

describe('members remove <project> <email>', () => {
  it('the example: withdraws a pending e-mail invitation, so the person does not join when they arrive', async () => {
    await run(t, OWNER, 'members invite demo nobody@elsewhere.test member');
    const reply = await run(t, OWNER, 'members remove demo nobody@elsewhere.test');
    expect(reply.text).toBe(':white_check_mark: The invitation of nobody@elsewhere.test to `demo` as Member is withdrawn.');
    expect(await pending()).toEqual([]);
    // They join the workspace later and use the app: no membership.
    t.slack.addUser({ id: NEWBIE, email: 'nobody@elsewhere.test' });
    await run(t, NEWBIE, 'whoami');
    expect((await run(t, NEWBIE, 'projects info demo')).text).toContain('You have no access to project `demo`');
    const audit = (await t.app.db.raw("SELECT actor FROM audit_events WHERE action = 'member.invite_withdrawn'"))[0];
    expect(audit).toEqual({ actor: OWNER });
  });

  it('takes Slack’s mailto form and any case', async () => {
    await run(t, OWNER, 'members invite demo Nobody@Elsewhere.test read_only');
    const reply = await run(t, OWNER, 'members remove demo <mailto:NOBODY@elsewhere.test|NOBODY@elsewhere.test>');
    expect(reply.text).toContain('is withdrawn');
    expect(await pending()).toEqual([]);
  });

  it('an invitation to become Owner is withdrawn only by an Owner; an Admin changes nothing', async () => {
    await run(t, OWNER, 'members invite demo boss@elsewhere.test owner');
    const refused = await run(t, ADMIN, 'members remove demo boss@elsewhere.test');
    expect(refused.text).toContain('You need to be Owner in `demo` to grant or take away the Owner role; you are Admin.');
    expect(await pending()).toEqual([{ email: 'boss@elsewhere.test', role: 'owner' }]);
    expect((await run(t, OWNER, 'members remove demo boss@elsewhere.test')).text).toContain('is withdrawn');
  });

  it('an address with no pending invitation says how to remove a member instead', async () => {
    const reply = await run(t, OWNER, 'members remove demo admin@acme.test');
    expect(reply.text).toContain('admin@acme.test has no pending invitation to `demo`; to remove a member, mention them');
    expect((await run(t, ADMIN, 'projects info demo')).text).toContain('Your role: Admin');
  });
});

describe('projects channel <project> off', () => {
  it('takes the approvals channel back: requests go to the Owners by DM again', async () => {
    await run(t, OWNER, `projects channel demo <#${CHANNEL}|approvals>`);
    expect((await run(t, OWNER, 'projects info demo')).text).toContain(`Approvals channel: <#${CHANNEL}>`);
    const reply = await run(t, OWNER, 'projects channel demo off');
    expect(reply.text).toContain('has no approvals channel any more');
    expect((await run(t, OWNER, 'projects info demo')).text).toContain('Approvals channel: not set');
  });
});
