/**
 * Socket Mode end to end: the real app with SLACK_APP_TOKEN set opens its
 * connection with `apps.connections.open` (answered by the Slack fake with a
 * ws://127.0.0.1 address), gets Slack's `hello`, and answers slash commands,
 * button presses and events over the WebSocket; a `disconnect` makes it
 * reconnect. A bad or under-scoped app token stops start-up in one sentence.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import nock from 'nock';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { testSqliteDb } from '../helpers/db.ts';
import { buttonPayload, FakeSlack, slashForm, TEAM_ID } from '../helpers/slack.ts';
import { FakeSocketMode } from '../helpers/socket-mode.ts';

const OWNER = 'U0OWNER';
const APP_TOKEN = 'xapp-1-A0APP-1-0123456789abcdef';

let t: TestApp | null = null;
let ws: FakeSocketMode | null = null;

afterEach(async () => {
  await t?.stop();
  t = null;
  await ws?.close();
  ws = null;
  nock.cleanAll();
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function socketSlack(socket: FakeSocketMode): FakeSlack {
  return new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }).on('apps.connections.open', () => ({ ok: true, url: socket.url }));
}

const slashPayload = (user: string, text: string) => Object.fromEntries(new URLSearchParams(slashForm(user, text)));

async function health(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('Socket Mode', () => {
  it('is not healthy until Slack says hello, then answers commands, buttons and events over the WebSocket, and reconnects on disconnect', async () => {
    ws = await new FakeSocketMode().listen();
    ws.autoHello = false;
    const slack = socketSlack(ws);
    const port = await freePort();
    const starting = startTestApp({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN, PORT: String(port) } });

    // The HTTP server is up, the WebSocket is open, but no hello yet: not healthy.
    await vi.waitFor(() => expect(ws!.connections.length).toBe(1), { timeout: 10_000 });
    expect(await health(port)).toEqual({ status: 503, body: { ok: false, error: { code: 'slack_not_connected', message: 'The bot is not connected to Slack yet.' } } });
    ws.hello();
    t = await starting;
    expect(await health(port)).toEqual({ status: 200, body: { ok: true } });
    expect(slack.callsTo('apps.connections.open')).toHaveLength(2); // the start-up check, then the connection

    // slash_commands: the answer comes back as the envelope's acknowledgement.
    const created = ws.envelope('slash_commands', slashPayload(OWNER, 'projects create pay'));
    await vi.waitFor(() => expect(ws!.ackOf(created)).toBeDefined(), { timeout: 5000, interval: 20 });
    expect(String(ws.ackOf(created)!.payload?.text)).toContain('`pay` created');
    const who = ws.envelope('slash_commands', slashPayload(OWNER, 'whoami'));
    await vi.waitFor(() => expect(String(ws!.ackOf(who)?.payload?.text)).toContain('`pay`: Owner'), { timeout: 5000, interval: 20 });

    // interactive: a press on a request that does not exist is acknowledged and answered through response_url.
    const pressed = ws.envelope('interactive', buttonPayload(OWNER, 'approval_approve', 'apr_doesnotexist000000000000'));
    await vi.waitFor(() => expect(ws!.ackOf(pressed)).toBeDefined(), { timeout: 5000, interval: 20 });
    await vi.waitFor(() => expect(slack.callsTo('response_url').length).toBeGreaterThan(0), { timeout: 5000, interval: 20 });

    // events_api: opening App Home publishes it.
    const opened = ws.envelope('events_api', {
      token: 'legacy',
      team_id: TEAM_ID,
      api_app_id: 'A0APP',
      type: 'event_callback',
      event_id: 'Ev0HOME',
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'app_home_opened', user: OWNER, channel: `D${OWNER}`, tab: 'home', event_ts: '1700000000.000100' },
    });
    await vi.waitFor(() => expect(ws!.ackOf(opened)).toBeDefined(), { timeout: 5000, interval: 20 });
    await vi.waitFor(() => expect(slack.callsTo('views.publish').some((c) => c.body.user_id === OWNER)).toBe(true), { timeout: 5000, interval: 20 });

    // disconnect: the client opens a new connection, and is unhealthy until its hello.
    ws.autoHello = true;
    ws.disconnect();
    await vi.waitFor(() => expect(slack.callsTo('apps.connections.open')).toHaveLength(3), { timeout: 15_000 });
    await vi.waitFor(() => expect(ws!.connections.filter((c) => !c.closed)).toHaveLength(1), { timeout: 15_000 });
    await vi.waitFor(async () => expect((await health(port)).status).toBe(200), { timeout: 15_000 });
    const again = ws.envelope('slash_commands', slashPayload(OWNER, 'projects list'));
    await vi.waitFor(() => expect(String(ws!.ackOf(again)?.payload?.text)).toContain('`pay`'), { timeout: 10_000 });
  }, 60_000);

  it('runs due jobs while Slack has not said hello yet, and is not healthy meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jamjet-socket-'));
    const path = join(dir, 'jamjet.db');
    const db = await testSqliteDb(path);
    await db.raw("INSERT INTO jobs (kind, payload, run_at, status, created_at) VALUES ('delivery.wipe', '{\"delivery\":\"gone\"}', 0, 'pending', 0)");
    await db.close();
    ws = await new FakeSocketMode().listen();
    ws.autoHello = false;
    const port = await freePort();
    const starting = startTestApp({ slack: socketSlack(ws), env: { SLACK_APP_TOKEN: APP_TOKEN, PORT: String(port), DATABASE_URL: `sqlite:${path}` } });
    await vi.waitFor(() => expect(ws!.connections.length).toBe(1), { timeout: 10_000 });
    const peek = new Database(path, { readonly: true });
    try {
      await vi.waitFor(() => expect(peek.prepare("SELECT status FROM jobs WHERE kind = 'delivery.wipe'").get()).toEqual({ status: 'done' }), { timeout: 10_000 });
    } finally {
      peek.close();
    }
    expect((await health(port)).status).toBe(503);
    ws.hello();
    t = await starting;
    expect((await health(port)).status).toBe(200);
  }, 30_000);

  it('stops start-up with one sentence naming SLACK_APP_TOKEN when Slack refuses it', async () => {
    const slack = new FakeSlack().on('apps.connections.open', () => ({ ok: false, error: 'invalid_auth' }));
    await expect(startTestApp({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN } })).rejects.toThrow(
      'Slack refused SLACK_APP_TOKEN (invalid_auth); create an app-level token with the connections:write scope under Basic Information, App-Level Tokens.',
    );
  });

  it('stops start-up naming the missing connections:write scope', async () => {
    const slack = new FakeSlack().on('apps.connections.open', () => ({ ok: false, error: 'missing_scope', needed: 'connections:write', provided: 'authorizations:read' }));
    await expect(startTestApp({ slack, env: { SLACK_APP_TOKEN: APP_TOKEN } })).rejects.toThrow(
      'SLACK_APP_TOKEN lacks the connections:write scope; add it to the app-level token under Basic Information, App-Level Tokens.',
    );
  });

  it('stops start-up when SLACK_APP_TOKEN is not an app-level token', async () => {
    await expect(startTestApp({ env: { SLACK_APP_TOKEN: 'xoxb-not-an-app-token' } })).rejects.toThrow('SLACK_APP_TOKEN should look like xapp-');
  });
});

describe('Socket Mode start-up of the real process', () => {
  it('exits 1 with one line naming SLACK_APP_TOKEN and the missing scope, no stack trace', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const fake = new FakeSlack().on('apps.connections.open', () => ({ ok: false, error: 'missing_scope', needed: 'connections:write', provided: '' }));
    const server = await fake.listen();
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: fileURLToPath(new URL('../../', import.meta.url)),
        env: {
          PATH: process.env.PATH ?? '',
          SLACK_BOT_TOKEN: 'xoxb-test-token',
          SLACK_APP_TOKEN: APP_TOKEN,
          SLACK_API_URL: `${server.url}/api/`,
          DATABASE_URL: 'sqlite::memory:',
          PORT: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      // Info lines (the migrations) may come first; the refusal is one error line.
      const errors = output.trim().split('\n').filter((l) => !l.includes('"level":"info"'));
      expect(errors, output).toHaveLength(1);
      expect(errors[0]).toContain('SLACK_APP_TOKEN lacks the connections:write scope');
      expect(output).not.toMatch(/\n\s+at /);
      expect(output).not.toContain(APP_TOKEN);
    } finally {
      await server.close();
    }
  }, 30_000);
});
