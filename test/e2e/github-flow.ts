/** Steps shared by the GitHub connect and link end-to-end tests: the real app, a local GitHub, a test clock. */
import { expect, vi } from 'vitest';
import { LocalGitHub } from '../drills/local-github.ts';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { FakeSlack, type SlackCall } from '../helpers/slack.ts';
import { displayKey } from '../../src/core/keys.ts';
import { reveal, run } from './keys-flow.ts';

/** The bot's own credential: a fine-grained token (no X-OAuth-Scopes), acting as GitHub's `jamjet-bot`. */
export const BOT_TOKEN = 'github_pat_11BOTBOTBOT0botbotbotbot_botbotbotbotbotbotbotbotbotbotbot';

export interface GitHubWorld {
  t: TestApp;
  github: LocalGitHub;
  clock: { now: number };
  /** Restarts the app on the same database (file) and the same GitHub. */
  restart(): Promise<void>;
}

export interface WorldOptions {
  readonly users: readonly string[];
  readonly adminUsers?: readonly string[];
  readonly clientId?: boolean;
  readonly databaseFile?: string;
  readonly github?: LocalGitHub;
  readonly botToken?: string;
}

export async function startWorld(options: WorldOptions): Promise<GitHubWorld> {
  const clock = { now: Date.UTC(2026, 10, 28, 9, 0, 0) };
  const github = options.github ?? (await new LocalGitHub().listen());
  github.now = () => clock.now;
  const boot = () => {
    const slack = new FakeSlack();
    for (const id of options.users) slack.addUser({ id, email: `${id.toLowerCase()}@acme.test` });
    return startTestApp({
      slack,
      now: () => clock.now,
      env: {
        GITHUB_TOKEN: options.botToken ?? BOT_TOKEN,
        GITHUB_API_URL: github.url,
        GITHUB_WEB_URL: github.url,
        ...(options.clientId === false ? {} : { GITHUB_CLIENT_ID: github.clientId }),
        JAMJET_ADMIN_USERS: (options.adminUsers ?? []).join(','),
        JOBS_POLL_SECONDS: '3600',
        ...(options.databaseFile ? { DATABASE_URL: `sqlite:${options.databaseFile}` } : {}),
      },
    });
  };
  const world: GitHubWorld = {
    t: await boot(),
    github,
    clock,
    async restart() {
      await world.t.stop();
      world.t = await boot();
    },
  };
  return world;
}

/** The newest DM to `user` whose text matches, after Slack call index `from`. */
export async function waitForDm(t: TestApp, user: string, match: RegExp, from = 0): Promise<SlackCall> {
  return vi.waitFor(
    () => {
      const found = t.slack.calls
        .slice(from)
        .filter((c) => (c.method === 'chat.postMessage' && c.body.channel === user) || c.method === 'response_url')
        .reverse()
        .find((c) => match.test(String(c.body.text ?? '')));
      if (!found) throw new Error(`no DM to ${user} matching ${match} yet`);
      return found;
    },
    { timeout: 5000, interval: 20 },
  );
}

/** Runs `github connect` and returns the user code from the DM. */
export async function startConnect(w: GitHubWorld, user: string): Promise<string> {
  const from = w.t.slack.calls.length;
  const reply = await run(w.t, user, 'github connect');
  expect(reply.text).toContain('Asking GitHub for a one-time code');
  const dm = await waitForDm(w.t, user, /enter the code/, from);
  expect(String(dm.body.text)).toContain(`${w.github.url}/login/device`);
  return /\*([A-Z]{4}-\d{4})\*/.exec(String(dm.body.text))![1]!;
}

/** Moves the clock by `ms` and runs the jobs that are due. */
export async function tick(w: GitHubWorld, ms: number): Promise<void> {
  w.clock.now += ms;
  await w.t.runDue();
}

/** The whole device flow for `user`, approved on GitHub as `login`. */
export async function connect(w: GitHubWorld, user: string, login: string): Promise<void> {
  const from = w.t.slack.calls.length;
  const code = await startConnect(w, user);
  w.github.decide(code, 'approved', login);
  await tick(w, 5_000);
  await waitForDm(w.t, user, new RegExp(`connected to GitHub as \\*${login}\\*`), from);
}

/**
 * Rotates `project`'s key as `user`, reveals the new key and waits for the
 * rotation's report DM (GitHub targets written, or none linked) that names
 * this key: a DM about an earlier rotation, such as its old key revoked, may
 * still arrive meanwhile and reads alike. Returns the key and the report's
 * blocks and text as one string.
 */
export async function rotateAndReport(t: TestApp, user: string, project: string): Promise<{ key: string; report: string }> {
  const from = t.slack.calls.length;
  await run(t, user, `keys rotate ${project}`);
  const key = await reveal(t, user, from);
  const named = displayKey(key).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const report = await waitForDm(t, user, new RegExp(`${named}[^]*(GitHub targets written|no GitHub targets)`), from);
  return { key, report: JSON.stringify(report.body.blocks) + String(report.body.text) };
}
