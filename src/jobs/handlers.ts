/**
 * What the bot does by itself when a job is due: remind about the end of an
 * overlap, expire an unrevealed key. Slack calls go through the pacer (its
 * pace and 429 pauses); an outage throws, so the queue retries the job for as
 * long as the work matters; a refusal that will never succeed takes the
 * fallback at once (the next Owner for a reminder).
 */
import type { Logger } from '../logger.ts';
import { projectName } from '../services/access.ts';
import type { ServiceContext } from '../services/context.ts';
import { DELIVERY_WIPE_JOB, expireDelivery, findDelivery, REVEAL_EXPIRY_JOB, wipeDelivery } from '../services/deliveries.ts';
import type { UsageRecorder } from '../services/key-auth.ts';
import { keyById } from '../services/keys.ts';
import { recordReminderSent, reminderDue, reminderRecipients } from '../services/rotation-endings.ts';
import { REMINDER_JOB, rotationDetails } from '../services/rotations.ts';
import { code, mention } from '../slack/mrkdwn.ts';
import { slackErrorCode, type ChannelDirectory, type ChatSurface } from '../slack/surface.ts';
import { reminderMessage, revealMessage } from '../slack/views/keys.ts';
import type { JobQueue } from './queue.ts';
import { channelScope, isPermanentRefusal, methodScope, type SlackPacer } from './slack-pace.ts';

export interface JobDeps {
  readonly services: ServiceContext;
  readonly chat: ChatSurface;
  /** `conversations.info`: an approvals channel is checked again when a card is posted, not only when it was set. */
  readonly channels?: ChannelDirectory;
  readonly usage: UsageRecorder;
  readonly log: Logger;
  readonly pacer: SlackPacer;
}

export function registerJobHandlers(queue: JobQueue, deps: JobDeps): void {
  const { services, chat, pacer, log } = deps;
  const { db } = services;

  queue.register(REMINDER_JOB, async (job) => {
    const { rotation: rotationId, remindAt } = job.payload as { rotation: number; remindAt: number };
    // The reminder shows the old key's last use: write what this process has seen.
    await deps.usage.flush();
    const rotation = await reminderDue(db, rotationId, remindAt);
    if (!rotation) return;
    const details = (await rotationDetails(db, rotationId))!;
    const unreachable: string[] = [];
    for (const user of await reminderRecipients(db, rotation)) {
      const note = unreachable.length > 0 ? `I could not reach ${unreachable.join(', ')}, so this reminder comes to you.` : undefined;
      try {
        const posted = await pacer.call(job.id, channelScope(user), () => chat.postDm(user, reminderMessage(details, note)));
        await recordReminderSent(services, rotationId, posted);
        return;
      } catch (error) {
        if (!isPermanentRefusal(error)) throw error;
        log.warn('reminder refused for good; asking the next Owner', { rotation: rotationId, user, reason: slackErrorCode(error) });
        unreachable.push(`${mention(user)} (${code(slackErrorCode(error))})`);
      }
    }
    // No one who may finish the rotation can be reached now: keep trying, as for an outage.
    throw new Error(`no Owner of the project could be reached for the reminder: ${unreachable.join(', ')}`);
  });

  queue.register(DELIVERY_WIPE_JOB, async (job) => {
    await wipeDelivery(db, (job.payload as { delivery: string }).delivery);
  });

  queue.register(REVEAL_EXPIRY_JOB, async (job) => {
    const { delivery: deliveryId } = job.payload as { delivery: string };
    const delivery = await expireDelivery(services, deliveryId) ?? await findDelivery(db, deliveryId);
    if (!delivery || delivery.revealedAt !== null || !delivery.dm) return;
    const key = (await keyById(db, delivery.keyId))!;
    const project = await projectName(db, key.projectId);
    try {
      await pacer.call(job.id, methodScope('chat.update'), () => chat.updateMessage(delivery.dm!, revealMessage(project, key, delivery, null)));
    } catch (error) {
      // The DM is gone or cannot be edited: the key expired all the same, and the button no longer opens it.
      if (!isPermanentRefusal(error)) throw error;
      log.warn('reveal DM not edited', { delivery: deliveryId, reason: slackErrorCode(error) });
    }
  });
}
