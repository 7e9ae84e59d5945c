/** Approval cards as the fake Slack received them. */
import { setTimeout as sleep } from 'node:timers/promises';
import { buttonsIn, type FakeSlack } from './fake-slack.ts';

const APPROVE = 'approval_approve';
const POLL_MS = 100;

export interface CardCount {
  /** Requests with no card when the wait ended. */
  readonly lost: number;
  /** Requests whose card was posted more than once. */
  readonly duplicated: number;
  /** From the start of the wait until the last card arrived (or the wait gave up). */
  readonly waitedMs: number;
}

/** Cards per approval id among `chat.postMessage` calls from index `from` on. */
function cardsById(slack: FakeSlack, from: number): Map<string, number> {
  const cards = new Map<string, number>();
  for (const call of slack.calls.slice(from)) {
    if (call.method !== 'chat.postMessage') continue;
    for (const button of buttonsIn(call)) {
      if (button.actionId === APPROVE) cards.set(button.value, (cards.get(button.value) ?? 0) + 1);
    }
  }
  return cards;
}

/** Waits, at most `timeoutMs`, until every id has a card (its Approve button) posted after call `from`. */
export async function waitForCards(slack: FakeSlack, from: number, ids: readonly string[], timeoutMs: number): Promise<CardCount> {
  const started = Date.now();
  let cards = cardsById(slack, from);
  while (ids.some((id) => !cards.has(id)) && Date.now() - started < timeoutMs) {
    await sleep(POLL_MS);
    cards = cardsById(slack, from);
  }
  return {
    lost: ids.filter((id) => !cards.has(id)).length,
    duplicated: ids.filter((id) => (cards.get(id) ?? 0) > 1).length,
    waitedMs: Date.now() - started,
  };
}
