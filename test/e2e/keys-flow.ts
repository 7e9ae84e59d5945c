/** Steps shared by the key and rotation end-to-end tests. */
import nock from 'nock';
import { expect, vi } from 'vitest';
import type { SecretTarget } from '../../src/github/types.ts';
import { pathsFor, type FakeGitHub } from '../github/fake-github.ts';
import type { TestApp } from '../helpers/app.ts';
import { buttonPayload, buttonsIn, interact, slash, type SlackCall } from '../helpers/slack.ts';

export const GITHUB_URL = 'http://github.test';
export const KEY = /jj_[0-9a-f]{32}/;

export function readiness(t: TestApp, project: string, key?: string) {
  return fetch(`http://127.0.0.1:${t.port}/v1/projects/${project}/readiness`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
}

/** The newest message to `user` that carries a button `actionId`. */
export async function waitForButton(t: TestApp, user: string, actionId: string, after = 0): Promise<{ call: SlackCall; value: string }> {
  return vi.waitFor(
    () => {
      const calls = t.slack.calls.slice(after).filter((c) => c.method === 'chat.postMessage' && c.body.channel === user || c.method === 'response_url');
      for (const call of calls.reverse()) {
        const button = buttonsIn(call).find((b) => b.actionId === actionId);
        if (button) return { call, value: button.value };
      }
      throw new Error(`no ${actionId} button for ${user} yet`);
    },
    { timeout: 5000, interval: 20 },
  );
}

export async function press(t: TestApp, user: string, actionId: string, value: string) {
  const before = t.slack.calls.length;
  const res = await interact(t.port, buttonPayload(user, actionId, value));
  expect(res.status).toBe(200);
  return before;
}

/** Waits for Slack calls made after index `from` that match. */
export async function waitForCall(t: TestApp, from: number, match: (c: SlackCall) => boolean): Promise<SlackCall> {
  return vi.waitFor(
    () => {
      const found = t.slack.calls.slice(from).find(match);
      if (!found) throw new Error(`call not made yet; calls since ${from}: ${t.slack.calls.slice(from).map((c) => c.method).join(', ')}`);
      return found;
    },
    { timeout: 5000, interval: 20 },
  );
}

/** Presses *Reveal key* in `user`'s newest delivery and returns the key the modal shows. */
export async function reveal(t: TestApp, user: string, after = 0): Promise<string> {
  const { value } = await waitForButton(t, user, 'key_reveal', after);
  const from = await press(t, user, 'key_reveal', value);
  const open = await waitForCall(t, from, (c) => c.method === 'views.open');
  const shown = JSON.stringify(open.body.view).match(KEY);
  expect(shown).not.toBeNull();
  await waitForCall(t, from, (c) => c.method === 'response_url' && c.body.replace_original === true);
  return shown![0];
}

/**
 * GitHub answers the checks `github link` makes with the bot's credential:
 * the public key, the bot account's write access, and no such secret yet.
 */
export function serveCheck(github: FakeGitHub, target: SecretTarget) {
  const paths = pathsFor(target);
  nock(GITHUB_URL).get(paths.publicKey).reply(200, { key_id: github.keyId, key: github.publicKeyBase64 });
  if (target.kind !== 'org') {
    nock(GITHUB_URL).get(`/repos/${target.owner}/${target.repo}`).reply(200, { id: 1, permissions: { admin: false, push: true, pull: true } });
  }
  nock(GITHUB_URL).get(paths.secret).reply(404, { message: 'Not Found' });
}

export async function run(t: TestApp, user: string, text: string) {
  const reply = await slash(t.port, user, text);
  expect(reply.status).toBe(200);
  return reply;
}
