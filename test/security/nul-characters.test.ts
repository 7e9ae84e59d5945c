/**
 * Agent text with a NUL character. PostgreSQL refuses U+0000 in text (SQLite
 * keeps it), so a request that carries one must be answered the same on both
 * engines: kept, with the NUL shown as U+FFFD, never a 500 that loses it.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack } from '../helpers/slack.ts';
import { reveal, run } from '../e2e/keys-flow.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';
let t: TestApp;
let key: string;

beforeEach(async () => {
  const slack = new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
  t = await startTestApp({ slack });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
});
afterEach(async () => {
  await t.stop();
});

async function post(path: string, body: unknown) {
  const res = await fetch(`http://127.0.0.1:${t.port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('a NUL character in an approval request', () => {
  it('in the action and in context keys and values is kept, shown as U+FFFD, on both engines', async () => {
    const created = await post('/v1/approvals', {
      action: 'drop\u0000table users',
      context: { 'ticket\u0000': 'INC\u0000-42', nested: { list: ['a\u0000b'] } },
    });
    expect(created.status).toBe(201);
    const id = String(created.json.id);
    const rows = await t.app.db.raw<{ action: string; context: string }>('SELECT action, context FROM approvals WHERE id = ?', [id]);
    expect(rows[0]!.action).toBe('drop\ufffdtable users');
    expect(rows[0]!.action).not.toContain('\u0000');
    const got = await fetch(`http://127.0.0.1:${t.port}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(got.status).toBe(200);
  });
});

describe('a NUL character typed into a command', () => {
  it('in a key label is kept, shown as U+FFFD, on both engines', async () => {
    const reply = (await run(t, OWNER, "keys create payments --name ci\u0000deploy")).text;
    expect(reply).not.toMatch(/something went wrong|error/i);
    const names = await t.app.db.raw<{ name: string }>('SELECT name FROM api_keys ORDER BY id');
    expect(names.map((k) => k.name)).toContain('ci\ufffddeploy');
  });
});

