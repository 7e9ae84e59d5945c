/**
 * Sending a new key's one-time Reveal button. The DM is the normal way; when
 * Slack refuses it, the button goes into the command's own reply instead, so
 * the key is never lost.
 */
import type { KnownBlock } from '@slack/web-api';
import type { Logger } from '../logger.ts';
import { findDelivery, recordDm, encodeTicket, type DeliveryTicket } from '../services/deliveries.ts';
import type { ApiKey } from '../services/keys.ts';
import type { ServiceContext } from '../services/context.ts';
import type { Responder } from './command.ts';
import { code } from './mrkdwn.ts';
import { patiently, slackErrorCode, type ChatSurface, type Message, type PostedMessage } from './surface.ts';
import { revealMessage } from './views/keys.ts';

export interface KeyToDeliver {
  readonly project: string;
  readonly key: ApiKey;
  readonly ticket: DeliveryTicket;
}

export interface DeliveryDeps {
  readonly services: ServiceContext;
  readonly chat: ChatSurface;
  readonly log: Logger;
}

/** The longest a DM to someone waiting on their command waits out Slack's rate limit, in milliseconds. */
export const DM_PATIENCE_MS = 10_000;

/**
 * A DM to the person who just acted: a 429 is waited out (see `patiently`)
 * within `patienceMs`, so a burst of DMs (a key for each of ten environments)
 * reaches the DM at Slack's pace of about one a second instead of falling
 * back to replies.
 */
export function postDmPatiently(chat: ChatSurface, userId: string, message: Message, patienceMs = DM_PATIENCE_MS): Promise<PostedMessage> {
  return patiently(() => chat.postDm(userId, message), patienceMs);
}

export async function deliverKey(deps: DeliveryDeps, userId: string, item: KeyToDeliver, respond: Responder): Promise<void> {
  await deliverKeys(deps, userId, [item], respond);
}

/**
 * Each key's Reveal button by DM; the ones Slack would not DM go back in one
 * reply together (a response_url takes five replies, and `projects create
 * --envs` makes up to ten keys), each saying why.
 */
export async function deliverKeys(deps: DeliveryDeps, userId: string, items: readonly KeyToDeliver[], respond: Responder): Promise<void> {
  const undelivered: Message[] = [];
  for (const item of items) {
    const delivery = (await findDelivery(deps.services.db, item.ticket.deliveryId))!;
    const value = encodeTicket(item.ticket);
    try {
      const posted = await postDmPatiently(deps.chat, userId, revealMessage(item.project, item.key, delivery, value));
      await recordDm(deps.services.db, delivery.id, posted);
    } catch (error) {
      deps.log.warn('key delivery DM failed; offering the button in the reply', { key: item.key.publicId, error });
      const note = `I could not DM you (${code(slackErrorCode(error))}), so the button is here instead.`;
      undelivered.push(revealMessage(item.project, item.key, delivery, value, note));
    }
  }
  if (undelivered.length === 0) return;
  const blocks: KnownBlock[] = [];
  for (const [i, message] of undelivered.entries()) {
    if (i > 0) blocks.push({ type: 'divider' });
    blocks.push(...(message.blocks ?? []));
  }
  await respond({ text: undelivered.map((m) => m.text).join('\n'), blocks });
}

/** A DM to the person, or the same message as a reply when the DM fails. */
export async function dmOrRespond(deps: DeliveryDeps, userId: string, message: Message, respond: Responder): Promise<void> {
  try {
    await postDmPatiently(deps.chat, userId, message);
  } catch (error) {
    deps.log.warn('DM failed; replying instead', { error });
    await respond(message);
  }
}
