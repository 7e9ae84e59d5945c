/**
 * What the bot does by itself when a job is due: remind about the end of an
 * overlap, expire an unrevealed key. A Slack failure throws, so the queue
 * retries the job (after Slack's Retry-After when rate-limited).
 */
import type { Logger } from '../logger.ts';
import { projectName } from '../services/access.ts';
import type { ServiceContext } from '../services/context.ts';
import { DELIVERY_WIPE_JOB, expireDelivery, findDelivery, REVEAL_EXPIRY_JOB, wipeDelivery } from '../services/deliveries.ts';
import type { UsageRecorder } from '../services/key-auth.ts';
import { keyById } from '../services/keys.ts';
import { recordReminderSent, reminderDue, reminderRecipient } from '../services/rotation-endings.ts';
import { REMINDER_JOB, rotationDetails } from '../services/rotations.ts';
import type { ChatSurface } from '../slack/surface.ts';
import { reminderMessage, revealMessage } from '../slack/views/keys.ts';
import { RetryLater, type JobQueue } from './queue.ts';

export interface JobDeps {
  readonly services: ServiceContext;
  readonly chat: ChatSurface;
  readonly usage: UsageRecorder;
  readonly log: Logger;
}

/** Slack's rate limit says when to come back; anything else uses the queue's backoff. */
export async function slackCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const retryAfter = (error as { retryAfter?: number }).retryAfter;
    if (typeof retryAfter === 'number') throw new RetryLater('Slack rate limit', retryAfter * 1000);
    throw error;
  }
}

export function registerJobHandlers(queue: JobQueue, deps: JobDeps): void {
  const { services, chat } = deps;
  const { db } = services;

  queue.register(REMINDER_JOB, async (job) => {
    const { rotation: rotationId, remindAt } = job.payload as { rotation: number; remindAt: number };
    // The reminder shows the old key's last use: write what this process has seen.
    deps.usage.flush();
    const rotation = reminderDue(db, rotationId, remindAt);
    if (!rotation) return;
    const message = reminderMessage(rotationDetails(db, rotationId)!);
    const posted = await slackCall(() => chat.postDm(reminderRecipient(db, rotation), message));
    recordReminderSent(services, rotationId, posted);
  });

  queue.register(DELIVERY_WIPE_JOB, async (job) => {
    wipeDelivery(db, (job.payload as { delivery: string }).delivery);
  });

  queue.register(REVEAL_EXPIRY_JOB, async (job) => {
    const { delivery: deliveryId } = job.payload as { delivery: string };
    const delivery = expireDelivery(services, deliveryId) ?? findDelivery(db, deliveryId);
    if (!delivery || delivery.revealedAt !== null || !delivery.dm) return;
    const key = keyById(db, delivery.keyId)!;
    const project = projectName(db, key.projectId);
    await slackCall(() => chat.updateMessage(delivery.dm!, revealMessage(project, key, delivery, null)));
  });
}
