/** Steps against a bot in another process, with Slack played by a listening FakeSlack. */
import { expect, vi } from 'vitest';
import { buttonPayload, buttonsIn, interact, slash, type FakeSlack, type SlackCall } from '../helpers/slack.ts';
import type { BotProcess } from './bot-process.ts';

export const KEY = /jj_[0-9a-f]{32}/;

/** Slack as a real local server: the fake that records, and the URL the bots call. */
export interface LocalSlack {
  readonly fake: FakeSlack;
  readonly url: string;
}

/** `/jamjet <text>` from `user`, follow-ups going to the local fake. */
export async function command(bot: BotProcess, slack: LocalSlack, user: string, text: string) {
  const reply = await slash(bot.port, user, text, { hooks: `${slack.url}/hooks` });
  expect(reply.status, `${text} on ${bot.name}: ${reply.raw}`).toBe(200);
  return reply;
}

/** A button press from `user`'s DM, answered through the fake's response URL. */
export async function press(bot: BotProcess, slack: LocalSlack, user: string, actionId: string, value: string, channel = `D${user}`) {
  const res = await interact(bot.port, buttonPayload(user, actionId, value, channel, `${slack.url}/hooks`));
  expect(res.status).toBe(200);
}

/** Waits for a Slack call made after index `from` that matches. */
export function waitForCall(slack: LocalSlack, from: number, match: (c: SlackCall) => boolean, timeout = 10_000): Promise<SlackCall> {
  return vi.waitFor(
    () => {
      const found = slack.fake.calls.slice(from).find(match);
      if (!found) throw new Error(`call not made yet; since ${from}: ${slack.fake.calls.slice(from).map((c) => c.method).join(', ')}`);
      return found;
    },
    { timeout, interval: 25 },
  );
}

/** The newest message to `user` (DM or command reply) after `from` that carries a button `actionId`. */
export async function waitForButton(slack: LocalSlack, user: string, actionId: string, from = 0): Promise<{ call: SlackCall; value: string }> {
  return vi.waitFor(
    () => {
      const calls = slack.fake.calls
        .slice(from)
        .filter((c) => (c.method === 'chat.postMessage' && c.body.channel === user) || c.method === 'response_url');
      for (const call of calls.reverse()) {
        const button = buttonsIn(call).find((b) => b.actionId === actionId);
        if (button) return { call, value: button.value };
      }
      throw new Error(`no ${actionId} button for ${user} yet`);
    },
    { timeout: 10_000, interval: 25 },
  );
}

/**
 * Presses *Reveal key* (value `ticket`) on `bot`: the key the modal shows, or
 * the text of the refusal when there is no modal.
 */
export async function pressReveal(bot: BotProcess, slack: LocalSlack, user: string, ticket: string): Promise<{ key: string } | { refusal: string }> {
  const from = slack.fake.calls.length;
  await press(bot, slack, user, 'key_reveal', ticket);
  const answer = await waitForCall(
    slack,
    from,
    (c) => c.method === 'views.open' || (c.method === 'response_url' && c.body.replace_original === false),
  );
  if (answer.method === 'views.open') {
    const shown = JSON.stringify(answer.body.view).match(KEY);
    expect(shown, 'the reveal modal shows a key').not.toBeNull();
    return { key: shown![0] };
  }
  return { refusal: String(answer.body.text) };
}

/** Reveals the key of `user`'s newest delivery after `from`, through its DM button. */
export async function revealNewest(bot: BotProcess, slack: LocalSlack, user: string, from = 0): Promise<string> {
  const { value } = await waitForButton(slack, user, 'key_reveal', from);
  const outcome = await pressReveal(bot, slack, user, value);
  if (!('key' in outcome)) throw new Error(`reveal refused: ${outcome.refusal}`);
  return outcome.key;
}

export function readiness(bot: BotProcess, project: string, key: string) {
  return fetch(`${bot.url}/v1/projects/${project}/readiness`, { headers: { authorization: `Bearer ${key}` } });
}
