/**
 * Sending a new key's one-time Reveal button. The DM is the normal way; when
 * Slack refuses it, the button goes into the command's own reply instead, so
 * the key is never lost.
 */
import type { Logger } from '../logger.ts';
import { findDelivery, recordDm, encodeTicket, type DeliveryTicket } from '../services/deliveries.ts';
import type { ApiKey } from '../services/keys.ts';
import type { ServiceContext } from '../services/context.ts';
import type { Responder } from './command.ts';
import { code } from './mrkdwn.ts';
import { slackErrorCode, type ChatSurface, type Message } from './surface.ts';
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

export async function deliverKey(deps: DeliveryDeps, userId: string, item: KeyToDeliver, respond: Responder): Promise<void> {
  const delivery = findDelivery(deps.services.db, item.ticket.deliveryId)!;
  const value = encodeTicket(item.ticket);
  try {
    const posted = await deps.chat.postDm(userId, revealMessage(item.project, item.key, delivery, value));
    recordDm(deps.services.db, delivery.id, posted);
  } catch (error) {
    deps.log.warn('key delivery DM failed; offering the button in the reply', { key: item.key.publicId, error });
    const note = `I could not DM you (${code(slackErrorCode(error))}), so the button is here instead.`;
    await respond(revealMessage(item.project, item.key, delivery, value, note));
  }
}

/** A DM to the person, or the same message as a reply when the DM fails. */
export async function dmOrRespond(deps: DeliveryDeps, userId: string, message: Message, respond: Responder): Promise<void> {
  try {
    await deps.chat.postDm(userId, message);
  } catch (error) {
    deps.log.warn('DM failed; replying instead', { error });
    await respond(message);
  }
}
