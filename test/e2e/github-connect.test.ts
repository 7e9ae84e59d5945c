/**
 * `/jamjet github connect` end to end: GitHub's OAuth device flow against a
 * local GitHub that answers as github.com does (pending, slow_down, expired,
 * denied, the token), through signed Slack requests, on a test clock.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run } from './keys-flow.ts';
import { connect, startConnect, startWorld, tick, waitForDm, type GitHubWorld } from './github-flow.ts';

const ANN = 'U0ANN';
const BEN = 'U0BEN';

let w: GitHubWorld;
let dir: string;

const flows = async () => await w.t.app.db.raw('SELECT outcome, interval_seconds, device_code_sealed FROM github_device_flows ORDER BY id');
const connections = async () => await w.t.app.db.raw('SELECT user_id, github_login FROM github_connections ORDER BY user_id');
/** Every user token GitHub handed out. */
const userTokens = () => [...w.github.tokens.entries()].filter(([, a]) => a.login !== 'jamjet-bot').map(([token]) => token);

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jamjet-connect-'));
  w = await startWorld({ users: [ANN, BEN], databaseFile: join(dir, 'jamjet.db') });
});
afterEach(async () => {
  await w.t.stop();
  await w.github.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('github connect', () => {
  it('approved: polls at the interval, DMs the login, and keeps the token only sealed', async () => {
    const code = await startConnect(w, ANN);
    // Nothing is polled before GitHub's interval has passed.
    await tick(w, 1_000);
    expect(w.github.grants[0]!.answers).toEqual([]);
    await tick(w, 4_000);
    expect(w.github.grants[0]!.answers).toEqual(['authorization_pending']);

    w.github.decide(code, 'approved', 'ann-gh');
    await tick(w, 5_000);
    await waitForDm(w.t, ANN, /connected to GitHub as \*ann-gh\*/);
    expect(w.github.grants[0]!.answers).toEqual(['authorization_pending', 'access_token']);
    expect(await connections()).toEqual([{ user_id: ANN, github_login: 'ann-gh' }]);
    expect(await flows()).toEqual([{ outcome: 'connected', interval_seconds: 5, device_code_sealed: null }]);

    // The token works on GitHub, and appears nowhere the bot writes.
    const [token] = userTokens();
    expect(token).toMatch(/^gho_/);
    await w.t.stop();
    for (const file of ['jamjet.db', 'jamjet.db-wal']) {
      const path = join(dir, file);
      if (existsSync(path)) expect(readFileSync(path).includes(Buffer.from(token!))).toBe(false);
    }
    expect(w.t.logs.join('\n')).not.toContain(token);
    expect(w.t.logs.some((l) => l.includes('"level":"debug"'))).toBe(true);
    expect(w.t.slack.calls.filter((c) => c.raw.includes(token!))).toEqual([]);
    // Nor the device code, which could collect the token.
    const deviceCode = w.github.grants[0]!.deviceCode;
    expect(w.t.logs.join('\n')).not.toContain(deviceCode);
    expect(w.t.slack.calls.filter((c) => c.raw.includes(deviceCode))).toEqual([]);
  });

  it('slow_down: the next poll waits 5 more seconds, as GitHub asks', async () => {
    const code = await startConnect(w, ANN);
    w.github.grants[0]!.slowDownNext = true;
    await tick(w, 5_000);
    expect(w.github.grants[0]!.answers).toEqual(['slow_down']);
    expect(await flows()).toMatchObject([{ outcome: null, interval_seconds: 10 }]);
    // 5 seconds later is too early now: no poll.
    await tick(w, 5_000);
    expect(w.github.grants[0]!.answers).toEqual(['slow_down']);
    w.github.decide(code, 'approved', 'ann-gh');
    await tick(w, 5_000);
    expect(w.github.grants[0]!.answers).toEqual(['slow_down', 'access_token']);
    await waitForDm(w.t, ANN, /connected to GitHub as \*ann-gh\*/);
  });

  it('denied: stops polling and says nothing is connected', async () => {
    const code = await startConnect(w, ANN);
    w.github.decide(code, 'denied');
    await tick(w, 5_000);
    const dm = await waitForDm(w.t, ANN, /cancelled on GitHub/);
    expect(String(dm.body.text)).toContain('Run `/jamjet github connect` to try again');
    await tick(w, 60_000);
    expect(w.github.grants[0]!.answers).toEqual(['access_denied']);
    expect(await connections()).toEqual([]);
    expect(await flows()).toMatchObject([{ outcome: 'denied', device_code_sealed: null }]);
  });

  it('expired: GitHub says expired_token after 15 minutes; polling stops with a sentence', async () => {
    await startConnect(w, ANN);
    for (let i = 0; i < 3; i++) await tick(w, 5_000);
    expect(w.github.grants[0]!.answers).toEqual(['authorization_pending', 'authorization_pending', 'authorization_pending']);
    // The bot was down for a while: its next poll is past the code's life.
    w.github.grants[0]!.expiresAt = w.clock.now + 1_000;
    await tick(w, 5_000);
    const dm = await waitForDm(w.t, ANN, /expired before it was approved/);
    expect(String(dm.body.text)).toContain('/jamjet github connect');
    await tick(w, 60_000);
    expect(w.github.grants[0]!.answers.at(-1)).toBe('expired_token');
    expect(w.github.grants[0]!.answers.filter((a) => a === 'expired_token')).toHaveLength(1);
    expect(await flows()).toMatchObject([{ outcome: 'expired' }]);
  });

  it('tells the person even when Slack fails the first DM', async () => {
    const code = await startConnect(w, ANN);
    w.github.decide(code, 'approved', 'ann-gh');
    let failures = 1;
    let ts = 1;
    w.t.slack.on('chat.postMessage', (b) => (failures-- > 0 ? { ok: false, error: 'internal_error' } : { ok: true, channel: `D${String(b.channel)}`, ts: `${ts++}.0001` }));
    const notices = () => w.t.slack.callsTo('chat.postMessage').filter((c) => String(c.body.text).includes('connected to GitHub as *ann-gh*'));
    await tick(w, 5_000);
    expect(await connections()).toEqual([{ user_id: ANN, github_login: 'ann-gh' }]);
    await expect.poll(() => notices().length, { timeout: 5000, interval: 20 }).toBe(1);
    expect(failures).toBe(0);
    // The queue's backoff, then Slack takes it.
    await tick(w, 20_000);
    await expect.poll(() => notices().length, { timeout: 5000, interval: 20 }).toBe(2);
  });

  it('survives a restart: the poll is a durable job', async () => {
    const code = await startConnect(w, ANN);
    await w.restart();
    w.github.decide(code, 'approved', 'ann-gh');
    await tick(w, 5_000);
    await waitForDm(w.t, ANN, /connected to GitHub as \*ann-gh\*/);
    expect(await connections()).toEqual([{ user_id: ANN, github_login: 'ann-gh' }]);
  });

  it('a second connect cancels the first; disconnect forgets the token', async () => {
    const first = await startConnect(w, ANN);
    await connect(w, ANN, 'ann-other');
    w.github.decide(first, 'approved', 'ann-gh');
    await tick(w, 10_000);
    expect(w.github.grants[0]!.answers).toEqual([]);
    expect(await connections()).toEqual([{ user_id: ANN, github_login: 'ann-other' }]);
    expect((await run(w.t, BEN, 'github disconnect')).text).toContain('not connected to GitHub');
    expect((await run(w.t, ANN, 'github disconnect')).text).toContain('Disconnected GitHub login *ann-other*');
    expect(await connections()).toEqual([]);
    const events = await w.t.app.db.raw("SELECT action FROM audit_events WHERE action LIKE 'github.%' ORDER BY id");
    expect(events.map((e) => (e as { action: string }).action)).toEqual([
      'github.connect_started',
      'github.connect_started',
      'github.connected',
      'github.disconnected',
    ]);
  });

  it('a token sealed under another bot token does not open: the person is asked to connect again', async () => {
    await connect(w, ANN, 'ann-gh');
    // What a copied database gives someone without the operator's SLACK_BOT_TOKEN.
    const { createTokenSealer } = await import('../../src/github/token-seal.ts');
    const row = (await w.t.app.db.raw('SELECT token_sealed FROM github_connections'))[0] as { token_sealed: Buffer };
    expect(createTokenSealer('xoxb-someone-else').open(row.token_sealed, ANN)).toBeNull();
    expect(createTokenSealer('xoxb-test-token').open(row.token_sealed, BEN)).toBeNull();
    expect(createTokenSealer('xoxb-test-token').open(row.token_sealed, ANN)).toBe(userTokens()[0]);
  });
});

describe('github connect without GITHUB_CLIENT_ID', () => {
  it('says who may link instead, and starts nothing', async () => {
    await w.t.stop();
    w = await startWorld({ users: [ANN], clientId: false, github: w.github });
    const reply = await run(w.t, ANN, 'github connect');
    expect(reply.text).toContain('GitHub connect is off: whoever runs JamJet sets GITHUB_CLIENT_ID');
    expect(reply.text).toContain('Usage: `/jamjet github connect`');
    expect(w.github.grants).toEqual([]);
  });
});
