/**
 * Kind 4, outputs not redacted alike: text a person or an agent supplies is
 * redacted the same way wherever it goes: cards, DMs, replies, the API, the
 * audit trail and the database.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { githubMessage } from '../../src/github/failures.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, buttonPayload, FakeSlack, interact, TEAM_ID } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';
const LEAKED = 'jj_0123456789abcdef0123456789abcdef';
/** Any 8 characters of the leaked key's hex, which no redacted output may keep. */
const FRAGMENT = /0123456789abcdef|89abcdef0123|cdef01234567/;

let t: TestApp;
let key: string;

beforeEach(async () => {
  const slack = new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }).addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  t = await startTestApp({ slack });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
});
afterEach(async () => {
  await t.stop();
});

/** Everything the bot said to Slack, kept in its database and wrote to its log. */
async function everywhere(): Promise<string> {
  const dump = async (sql: string) => JSON.stringify(await t.app.db.raw(sql));
  return [
    JSON.stringify(t.slack.calls.map((c) => c.body)),
    await dump('SELECT * FROM audit_events'),
    await dump('SELECT action, context, reason FROM approvals'),
    await dump('SELECT name FROM api_keys'),
    await dump('SELECT email FROM pending_invites'),
    t.logs.join('\n'),
  ].join('\n');
}

describe('a reject reason', () => {
  it('the example: a reason holding a jj_ key is blanked on the card, in GET /v1/approvals/{id} and in the audit trail', async () => {
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'deploy' }),
    });
    const { id } = (await res.json()) as { id: string };
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL);
    const from = t.slack.calls.length;
    await interact(t.port, buttonPayload(OWNER, 'approval_reject', id, CHANNEL));
    const modal = await waitForCall(t, from, (c) => c.method === 'views.open');
    const view = modal.body.view as { callback_id: string; private_metadata: string };
    const submitted = await interact(t.port, {
      type: 'view_submission',
      team: { id: TEAM_ID },
      user: { id: OWNER },
      api_app_id: 'A0APP',
      view: {
        id: 'V1',
        callback_id: view.callback_id,
        private_metadata: view.private_metadata,
        state: { values: { reason: { text: { type: 'plain_text_input', value: `leaked: use ${LEAKED} instead` } } } },
      },
    });
    expect(submitted.status).toBe(200);
    await t.runDue();
    const card = await waitForCall(t, from, (c) => c.method === 'chat.update');
    expect(JSON.stringify(card.body)).toContain('leaked: use jj_[redacted] instead');

    const answer = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${key}` } });
    const json = (await answer.json()) as { status: string; reason: string };
    expect(json).toMatchObject({ status: 'rejected', reason: 'leaked: use jj_[redacted] instead' });
    expect(await everywhere()).not.toMatch(FRAGMENT);
  });
});

describe('text people type into commands', () => {
  it('a key label holding a key is stored, listed, DMed and audited redacted', async () => {
    const created = await run(t, OWNER, `keys create payments --name "ci ${LEAKED}"`);
    expect(created.text).toContain('ci jj_[redacted]');
    await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && String(c.body.text).includes('ci jj_[redacted]'));
    expect((await run(t, OWNER, 'keys list payments')).text).toContain('ci jj_[redacted]');
    expect(await everywhere()).not.toMatch(FRAGMENT);
  });

  it('an argument echoed back in a refusal is redacted before it is cut, so no part of the key survives', async () => {
    const padded = `${'x'.repeat(50)}${LEAKED}`;
    for (const text of [`projects info ${LEAKED}`, `projects info ${padded}`, `keys list payments ${LEAKED}`, `nonsense${LEAKED}`]) {
      const reply = await run(t, OWNER, text);
      expect(reply.text).toMatch(/not a valid project name|Unexpected|no command/);
      expect(reply.text).not.toMatch(FRAGMENT);
    }
    expect(await everywhere()).not.toMatch(FRAGMENT);
  });

  it('an e-mail address holding a key is refused and never stored', async () => {
    const reply = await run(t, OWNER, `members invite payments ${LEAKED}@evil.test`);
    expect(reply.text).toContain('contains an API key or token');
    expect((await t.app.db.raw('SELECT count(*) AS n FROM pending_invites'))[0]).toEqual({ n: 0 });
    expect(await everywhere()).not.toMatch(FRAGMENT);
  });
});

describe('secrets that do not look like the usual ones', () => {
  const PGP_BODY = 'lQOYBFSECRETPGPBODYmQINBF';
  const SSH_BODY = 'b3BlbnNzaC1rZXktdjEAAAAASECRET';

  it('an OpenPGP private key block and a cut-off OpenSSH key are blanked in the action, the context, the card, the API and the database', async () => {
    const pgp = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n${PGP_BODY}\n-----END PGP PRIVATE KEY BLOCK-----`;
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: `sign with ${pgp}`, context: { pgp, ssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${SSH_BODY}`, payee: 'mallory' } }),
    });
    expect(res.status).toBe(201);
    const card = await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL);
    expect(JSON.stringify(card.body)).toContain('[redacted private key]');
    expect(JSON.stringify(card.body)).toContain('mallory');
    expect(await everywhere()).not.toContain(PGP_BODY);
    expect(await everywhere()).not.toContain(SSH_BODY);
  });

  it('a key split by zero-width characters, which Slack shows whole, is blanked too', async () => {
    const split = `${LEAKED.slice(0, 12)}\u200b${LEAKED.slice(12, 20)}\u2060${LEAKED.slice(20)}`;
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: `use ${split}`, context: { [split]: split, list: [[`x${split}\ufeff`]] } }),
    });
    expect(res.status).toBe(201);
    const card = await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL);
    expect(JSON.stringify(card.body)).toContain('use jj_[redacted]');
    const shown = (s: string) => s.replace(/[\u200b\u2060\ufeff]|\\u200b|\\u2060|\\ufeff/g, '');
    expect(shown(await everywhere())).not.toMatch(FRAGMENT);
  });
});

describe('answers that repeat what they were given', () => {
  it('a 404 does not send back a key pasted into the path, under /v1/ or anywhere else, nor a 16 KiB path', async () => {
    for (const path of [`/v1/${LEAKED}`, `/${LEAKED}/x`, `/v1/approvals/${LEAKED}/x`, `/v1/${'a'.repeat(16_000)}`]) {
      const res = await fetch(`http://127.0.0.1:${t.port}${path}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(404);
      const text = await res.text();
      expect(text).not.toMatch(FRAGMENT);
      expect(text.length).toBeLessThan(400);
    }
    expect(await everywhere()).not.toMatch(FRAGMENT);
  });

  it('GitHub’s error text is redacted like everything else before it is shown, not only for the credentials in use', () => {
    const token = 'ghs_0123456789abcdefghijABCDEFGHIJ0123';
    const shown = githubMessage({ message: `Bad credentials for ${token}`, errors: [{ message: `key ${LEAKED}` }] }, ['some-other-secret']);
    expect(shown).toContain('Bad credentials for gh*_[redacted]');
    expect(shown).not.toContain(token.slice(4, 20));
    expect(shown).not.toMatch(FRAGMENT);
  });
});
