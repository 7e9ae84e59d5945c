/**
 * Kind 3, sanitising serialised data with a pattern: secrets are blanked
 * value by value on the parsed structure, so no field disappears and no
 * odd key breaks the JSON.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactValue } from '../../src/core/secrets.ts';
import { createLogger } from '../../src/logger.ts';
import { recordEvent, findBrokenLink } from '../../src/services/audit.ts';
import { renderContext } from '../../src/slack/views/approvals.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { testContext } from '../helpers/db.ts';
import { BOT_USER, FakeSlack } from '../helpers/slack.ts';
import { reveal, run, waitForCall } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';
const LEAKED = 'jj_0123456789abcdef0123456789abcdef';

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

/** `POST /v1/approvals` with `context` given as raw JSON text, exactly as the agent sent it. */
async function request(context: string) {
  const body = `{"action":"pay an invoice","context":${context}}`;
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
  });
  return { status: res.status, json: (await res.json()) as { id?: string } };
}

/** The card as posted, as one string of what the approver reads. */
async function card(id: string): Promise<string> {
  const call = await waitForCall(t, 0, (c) => c.method === 'chat.postMessage' && JSON.stringify(c.body.blocks ?? []).includes(id));
  return JSON.stringify(call.body.blocks);
}

describe('approval context on the card', () => {
  it('the example: a private key’s start and end in two fields leave every field visible', async () => {
    const { status, json } = await request(
      '{"memo":"see -----BEGIN X PRIVATE KEY----- below","amount_eur":987654321,"payee":"mallory","footer":"-----END X PRIVATE KEY-----"}',
    );
    expect(status).toBe(201);
    const shown = await card(json.id!);
    for (const field of ['memo', 'amount_eur', '987654321', 'payee', 'mallory', 'footer']) expect(shown).toContain(field);
    expect(shown).toContain('[redacted private key]');
    expect(shown).not.toContain('below');
  });

  it('the example: a key that looks like a private key is answered 201, not 500, and stays readable', async () => {
    const { status, json } = await request('{"-----BEGIN A PRIVATE KEY-----":"-----END A PRIVATE KEY-----"}');
    expect(status).toBe(201);
    const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/${json.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const shown = await card(json.id!);
    expect(shown).toContain('[redacted private key]');
    expect(shown).toContain('-----END A PRIVATE KEY-----');
  });

  it('a whole private key in one field and an API key in a nested array are blanked; their neighbours stay', async () => {
    const body = JSON.stringify({
      pem: '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----',
      steps: [{ run: `curl -H "Authorization: Bearer ${LEAKED}"`, then: 'restart' }, 42, null, true],
      'quote"key': 'a "quoted" value',
    });
    const { status, json } = await request(body);
    expect(status).toBe(201);
    const shown = await card(json.id!);
    expect(shown).not.toContain(LEAKED);
    expect(shown).not.toContain('MIIEow');
    for (const field of ['pem', 'steps', 'restart', '42', 'null', 'true', 'quote']) expect(shown).toContain(field);
  });

  it('a field padded to thousands of characters does not push the fields after it off the card', async () => {
    const { status, json } = await request(JSON.stringify({ memo: 'x'.repeat(6000), amount_eur: 987654321, payee: 'mallory' }));
    expect(status).toBe(201);
    const shown = await card(json.id!);
    for (const field of ['memo', 'amount_eur', '987654321', 'payee', 'mallory', 'more characters']) expect(shown).toContain(field);
  });

  it('two keys that read the same once redacted both stay, and `__proto__` is a plain key', async () => {
    const { status, json } = await request(
      JSON.stringify({ [LEAKED]: 'first', [LEAKED.replace('0123', '9999')]: 'second' }).slice(0, -1) + ',"__proto__":{"polluted":"yes"}}',
    );
    expect(status).toBe(201);
    const shown = await card(json.id!);
    expect(shown).toContain('first');
    expect(shown).toContain('second');
    expect(shown).toContain('__proto__');
    expect(shown).toContain('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('approval context: more odd shapes', () => {
  it('a key written with unicode escapes, nested `__proto__` and `constructor` in arrays: every field shows, nothing leaks or pollutes', async () => {
    const escaped = LEAKED.replace(/./g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    const { status, json } = await request(
      `{"list":[{"__proto__":{"isAdmin":true}},{"constructor":{"prototype":{"x":1}}}],"${escaped}":"${escaped}","amount_eur":5}`,
    );
    expect(status).toBe(201);
    const shown = await card(json.id!);
    for (const field of ['__proto__', 'isAdmin', 'constructor', 'prototype', 'amount_eur', 'jj_[redacted]']) expect(shown).toContain(field);
    expect(shown).not.toContain('0123456789abcdef');
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    const stored = ((await t.app.db.raw('SELECT context FROM approvals'))[0] as { context: string }).context;
    expect(stored).not.toContain('0123456789abcdef');
  });

  it('a context just under 64 KiB with a thousand fields answers 201 and the card says how much is not shown', async () => {
    const fields = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`field_${i}`, `${'v'.repeat(40)}${i}`]));
    const { status, json } = await request(JSON.stringify({ first: 'payee mallory', ...fields }));
    expect(status).toBe(201);
    const shown = await card(json.id!);
    expect(shown).toContain('payee mallory');
    expect(shown).toMatch(/more characters\)/);
  });
});

describe('other serialised data', () => {
  it('audit details are redacted field by field: a reason with a private key’s start does not swallow the next field', async () => {
    const ctx = await testContext();
    await recordEvent(ctx.db, ctx.now(), {
      projectId: null,
      actor: 'U1',
      action: 'test.event',
      details: { reason: 'pasted -----BEGIN EC PRIVATE KEY----- oops', approval: 'apr_1', footer: '-----END EC PRIVATE KEY-----' },
    });
    const row = (await ctx.db.raw('SELECT details FROM audit_events'))[0] as { details: string };
    const details = JSON.parse(row.details) as Record<string, string>;
    expect(details).toEqual({ reason: 'pasted [redacted private key]', approval: 'apr_1', footer: '-----END EC PRIVATE KEY-----' });
    expect(await findBrokenLink(ctx.db)).toBeNull();
  });

  it('a log line keeps every field and stays valid JSON when two fields hold the two ends of a private key', () => {
    const lines: string[] = [];
    createLogger('info', (l) => lines.push(l)).info('odd', { a: '-----BEGIN X PRIVATE KEY----- x', user: 'U1', b: '-----END X PRIVATE KEY-----', token: 'xoxb-1-2' });
    const entry = JSON.parse(lines[0]!) as Record<string, string>;
    expect(entry.user).toBe('U1');
    expect(entry.a).toBe('[redacted private key]');
    expect(entry.token).toBe('[redacted]');
  });

  it('redactValue keeps the shape of deep values and arrays', () => {
    let deep: unknown = LEAKED;
    for (let i = 0; i < 50; i++) deep = { [`level${i}`]: [deep] };
    const clean = JSON.stringify(redactValue(deep));
    expect(clean).not.toContain(LEAKED);
    expect(clean.match(/level/g)).toHaveLength(50);
    expect(renderContext({ list: [1, 'two', { three: 3 }] })).toContain('three');
  });
});
