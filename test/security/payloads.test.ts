/**
 * Kind 9: malformed payloads. Every field of a view submission, a button
 * press, a slash command and an event is parsed with a schema; a payload
 * that does not fit is acknowledged with a sentence and changes nothing.
 * None of these may make a listener throw or leave a modal unanswered.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BAD_COMMAND } from '../../src/slack/listeners/commands.ts';
import { BAD_BUTTON, BAD_FORM } from '../../src/slack/listeners/dispatch.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { buttonPayload, FakeSlack, interact, sign, slash, slashForm, TEAM_ID } from '../helpers/slack.ts';

const OWNER = 'U0OWNER';
let t: TestApp;
let logsFrom = 0;

const state = async () => ({
  projects: await t.app.db.raw('SELECT * FROM projects ORDER BY id'),
  keys: await t.app.db.raw('SELECT id, revoked_at FROM api_keys ORDER BY id'),
  rotations: await t.app.db.raw('SELECT * FROM rotations ORDER BY id'),
  approvals: await t.app.db.raw('SELECT id, status FROM approvals'),
  audit: await t.app.db.raw('SELECT id FROM audit_events'),
});
/** No listener threw: Bolt's error handler logged nothing since the test began. */
const noThrow = () => expect(t.logs.slice(logsFrom).filter((l) => l.includes('slack listener failed'))).toEqual([]);

beforeAll(async () => {
  t = await startTestApp({ slack: new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }) });
  expect((await slash(t.port, OWNER, 'projects create payments')).text).toContain('payments');
  expect((await slash(t.port, OWNER, 'keys rotate payments --overlap 1h')).text).not.toContain(':warning:');
});
afterAll(async () => {
  await t.stop();
});
beforeEach(() => {
  logsFrom = t.logs.length;
});

function submission(callbackId: string, privateMetadata: unknown, values: Record<string, unknown> = {}) {
  return {
    type: 'view_submission',
    team: { id: TEAM_ID, domain: 'acme' },
    user: { id: OWNER, username: 'owner', team_id: TEAM_ID },
    api_app_id: 'A0APP',
    trigger_id: 'trigger-view',
    view: {
      id: 'V1',
      type: 'modal',
      callback_id: callbackId,
      ...(privateMetadata === undefined ? {} : { private_metadata: privateMetadata }),
      state: { values },
    },
  };
}

const confirmTyped = (value: unknown) => ({ confirm: { name: { type: 'plain_text_input', value } } });

describe('view submissions', () => {
  const forms: [string, Record<string, unknown>][] = [
    ['project_delete', confirmTyped('payments')],
    ['rotation_revoke_confirm', {}],
    ['approval_reject_reason', { reason: { text: { type: 'plain_text_input', value: 'no' } } }],
  ];
  const metadata: [string, unknown][] = [
    ['not JSON', '{project: payments'],
    ['null', 'null'],
    ['a number', '42'],
    ['an array', '["payments"]'],
    ['the wrong shape', '{"project":5,"rotation":"1; DROP","approval":{"id":1}}'],
    ['missing', undefined],
    ['not a string', { project: 'payments' }],
  ];
  for (const [callback, values] of forms) {
    it.each(metadata)(`${callback}: answers metadata that is %s with a sentence in the modal, and changes nothing`, async (_what, meta) => {
      const before = await state();
      const res = await interact(t.port, submission(callback, meta, values));
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ response_action: 'update' });
      expect(JSON.stringify(res.json)).toContain(BAD_FORM);
      expect(await state()).toEqual(before);
      noThrow();
    });
  }

  it.each([
    ['a number', confirmTyped(42)],
    ['an object', confirmTyped({ text: 'payments' })],
    ['another element type', { confirm: { name: { type: 'static_select', selected_option: { value: 'payments' } } } }],
    ['a block that is not an object', { confirm: 'payments' }],
  ])('answers a typed confirmation that is %s with a sentence, and deletes nothing', async (_what, values) => {
    const before = await state();
    const res = await interact(t.port, submission('project_delete', JSON.stringify({ project: 'payments' }), values));
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json)).toContain(BAD_FORM);
    expect(await state()).toEqual(before);
    noThrow();
  });

  it('still deletes with a well-formed submission (typed name trimmed)', async () => {
    const other = await slash(t.port, OWNER, 'projects create scratch');
    expect(other.text).toContain('scratch');
    await slash(t.port, OWNER, 'projects delete scratch');
    const opened = t.slack.callsTo('views.open').at(-1)!.body.view as { private_metadata: string };
    const res = await interact(t.port, submission('project_delete', opened.private_metadata, confirmTyped(' scratch ')));
    expect(res.json).toMatchObject({ response_action: 'update' });
    expect(JSON.stringify(res.json)).toContain('is deleted');
  });
});

describe('button presses', () => {
  const told = () => t.slack.callsTo('response_url').filter((c) => c.body.text === `:warning: ${BAD_BUTTON}`).length;
  it.each([
    ['rotation_revoke_old', 'abc'],
    ['rotation_revoke_old', ''],
    ['rotation_revoke_old', '1e3'],
    ['rotation_revoke_old', '-1'],
    ['rotation_revoke_old', '0'],
    ['rotation_revoke_old', '99999999999999999999'],
    ['rotation_snooze', '1.5'],
    ['rotation_keep_both', ' 1'],
    ['rotation_retry', 'x:y:z'],
    ['rotation_retry', '1:2:not-a-ticket'],
    ['key_reveal', '{"delivery":1}'],
    ['approval_approve', 'apr_'],
    ['approval_reject', '<!channel>'],
  ])('%s with value %j: one sentence, nothing changes', async (action, value) => {
    const before = await state();
    const sentences = told();
    const res = await interact(t.port, buttonPayload(OWNER, action, value));
    expect(res.status).toBe(200);
    await expect.poll(told, { timeout: 5000, interval: 20 }).toBe(sentences + 1);
    expect(await state()).toEqual(before);
    noThrow();
  });

  it('refuses a press without a value, and a select sent under a button id', async () => {
    const before = await state();
    const sentences = told();
    const missing = buttonPayload(OWNER, 'rotation_snooze', '1');
    delete (missing.actions[0] as { value?: string }).value;
    expect((await interact(t.port, missing)).status).toBe(200);
    const select = buttonPayload(OWNER, 'rotation_keep_both', '1');
    select.actions[0] = { type: 'static_select', action_id: 'rotation_keep_both', block_id: 'b1', selected_option: { value: '1' } } as never;
    expect((await interact(t.port, select)).status).toBe(200);
    await expect.poll(told, { timeout: 5000, interval: 20 }).toBe(sentences + 2);
    expect(await state()).toEqual(before);
    noThrow();
  });
});

describe('ids no listener has', () => {
  const told = () => t.slack.callsTo('response_url').filter((c) => c.body.text === `:warning: ${BAD_BUTTON}`).length;

  it.each(['rotation_retry_all', '__proto__', 'constructor', 'x'.repeat(255)])(
    'a button %s (from an older version, or forged) is acknowledged with the sentence, not left to time out',
    async (action) => {
      const before = await state();
      const sentences = told();
      const res = await interact(t.port, buttonPayload(OWNER, action, '1'));
      expect(res.status).toBe(200);
      await expect.poll(told, { timeout: 5000, interval: 20 }).toBe(sentences + 1);
      expect(await state()).toEqual(before);
      noThrow();
    },
  );

  it.each(['project_delete_v0', '__proto__', 'hasOwnProperty'])('a form %s is answered with the sentence in the modal', async (callback) => {
    const before = await state();
    const res = await interact(t.port, submission(callback, JSON.stringify({ project: 'payments' }), confirmTyped('payments')));
    expect(res.status).toBe(200);
    expect(JSON.stringify(res.json)).toContain(BAD_FORM);
    expect(await state()).toEqual(before);
    noThrow();
  });

  it('a link button is acknowledged without a word', async () => {
    const sentences = told();
    const link = buttonPayload(OWNER, 'docs_link', '');
    (link.actions[0] as Record<string, unknown>).url = 'https://example.test/docs';
    const res = await interact(t.port, link);
    expect(res.status).toBe(200);
    expect(told()).toBe(sentences);
    noThrow();
  });
});

describe('slash commands and events', () => {
  it('reads a slash command without text as help, and answers one with a malformed field with a sentence', async () => {
    const before = await state();
    for (const body of [
      slashForm(OWNER, 'projects list').replace(/&text=[^&]*/, ''),
      slashForm(OWNER, 'projects create oops').replace(/trigger_id=[^&]*/, 'trigger_id='),
      slashForm(OWNER, 'projects create oops').replace(/channel_id=[^&]*/, `channel_id=${'C'.repeat(100)}`),
    ]) {
      const res = await fetch(`http://127.0.0.1:${t.port}/slack/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...sign(body) },
        body,
      });
      expect(res.status).toBe(200);
      const reply = (await res.json()) as { text?: string };
      if (!body.includes('text=')) expect(reply.text).toContain('JamJet control plane');
      else expect(reply.text).toBe(`:warning: ${BAD_COMMAND}`);
    }
    expect(await state()).toEqual(before);
    noThrow();
  });

  it('ignores an app_home_opened event whose user is not an id, without throwing', async () => {
    const published = t.slack.callsTo('views.publish').length;
    const body = JSON.stringify({
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0ODD',
      event_time: Math.floor(Date.now() / 1000),
      authorizations: [{ team_id: TEAM_ID, user_id: 'UBOT', is_bot: true }],
      event: { type: 'app_home_opened', user: { id: OWNER }, channel: 'D0OWNER', tab: 'home' },
    });
    const res = await fetch(`http://127.0.0.1:${t.port}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...sign(body) },
      body,
    });
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(t.slack.callsTo('views.publish').length).toBe(published);
    noThrow();
  });
});
