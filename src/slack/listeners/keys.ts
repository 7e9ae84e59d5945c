/**
 * Buttons of key deliveries, rotation reports and reminders. Each press is
 * checked against the presser's role at the moment of the press.
 */
import type { RespondFn } from '@slack/bolt';
import { z } from 'zod';
import type { AppError } from '../../core/errors.ts';
import { projectName } from '../../services/access.ts';
import {
  abortReveal,
  beginReveal,
  decodeTicket,
  encodeTicket,
  finishReveal,
  openForRetry,
} from '../../services/deliveries.ts';
import { checkCanRetry, keepBothKeys, revokeOldKey, snoozeReminder } from '../../services/rotation-endings.ts';
import { rotationDetails, rotationForDelivery } from '../../services/rotations.ts';
import { interruptedTargets, writeTarget, writeTargets } from '../../services/secret-sync.ts';
import { dmOrRespond } from '../delivery.ts';
import { code } from '../mrkdwn.ts';
import { slackErrorCode } from '../surface.ts';
import {
  ACTIONS,
  REVOKE_CONFIRM_CALLBACK,
  reminderMessage,
  revealMessage,
  revealModal,
  revokeConfirmModal,
  rotationReport,
  snoozedMessage,
} from '../views/keys.ts';
import type { ListenerDeps } from './deps.ts';
import { ephemeral } from './respond.ts';
import { rowId, type Interactions } from './dispatch.ts';

/** A key delivery's ticket in a button: `<delivery uuid>.<secret>`. */
const ticketValue = z.string().transform((value, ctx) => decodeTicket(value) ?? (ctx.addIssue({ code: 'custom', message: 'not a ticket' }), z.NEVER));
/** A Retry button: `<rotation id>:<target id>:<ticket>`. */
const retryValue = z
  .string()
  .transform((value, ctx) => {
    const match = /^(\d{1,15}):(\d{1,15}):(.+)$/s.exec(value);
    const ticket = match ? decodeTicket(match[3]!) : null;
    if (match && ticket) return { rotation: Number(match[1]), target: Number(match[2]), ticket };
    ctx.addIssue({ code: 'custom', message: 'not a GitHub retry' });
    return z.NEVER;
  });
/** The revoke confirmation modal: the rotation in its metadata. */
const RevokeForm = z.object({ metadata: z.object({ rotation: rowId }) });

/** A refusal only the presser sees; the message itself stays as it is. */
const refuse = (respond: RespondFn, error: AppError | string) =>
  ephemeral(respond)({ text: `:warning: ${typeof error === 'string' ? error : error.message}` });

export function registerKeyListeners(app: Interactions, deps: ListenerDeps): void {
  const { services, surface, log } = deps;

  app.action(ACTIONS.reveal, ticketValue, async ({ ack, body, respond }, ticket) => {
    await ack();
    const begun = await beginReveal(services, ticket, deps.actorOf(body.user.id));
    if (!begun.ok) return void (await refuse(respond, begun.error));
    const { delivery, key, plaintext } = begun.value;
    const project = await projectName(services.db, key.projectId);
    try {
      await surface.openModal(body.trigger_id, revealModal(project, key, plaintext));
    } catch (error) {
      await abortReveal(services, delivery.id);
      log.warn('reveal modal failed', { key: key.publicId, error });
      return void (await refuse(respond, `Slack could not open the key window (${code(slackErrorCode(error))}); press *Reveal key* again.`));
    }
    const revealed = await finishReveal(services, delivery.id);
    await respond({ replace_original: true, ...revealMessage(project, key, revealed, null) });
    // The key is in hand once more: finish GitHub writes a restart interrupted.
    const rotation = await rotationForDelivery(services.db, delivery.id);
    const interrupted = rotation ? await interruptedTargets(services, rotation.id) : [];
    if (rotation && interrupted.length > 0) {
      log.info('resuming interrupted GitHub writes', { rotation: rotation.id, targets: interrupted.length });
      await writeTargets(services, deps.secrets, rotation.id, interrupted, plaintext, body.user.id);
      const report = rotationReport((await rotationDetails(services.db, rotation.id))!, encodeTicket(ticket));
      await dmOrRespond({ services, chat: surface, log }, body.user.id, report, ephemeral(respond));
    }
  });

  app.action(ACTIONS.retry, retryValue, async ({ ack, body, respond }, { rotation: rotationId, target: targetId, ticket }) => {
    await ack();
    const allowed = await checkCanRetry(services, deps.actorOf(body.user.id), rotationId);
    if (!allowed.ok) {
      // The key was revoked or replaced since the button was made: the report shows that now, without Retry.
      const current = allowed.error.code === 'already_done' ? await rotationDetails(services.db, rotationId) : null;
      if (current && ticket.deliveryId === current.rotation.deliveryId) {
        await respond({ replace_original: true, ...rotationReport(current, null) });
      }
      return void (await refuse(respond, allowed.error));
    }
    // The key in the button must be this rotation's new key, not one from another rotation.
    if (ticket.deliveryId !== allowed.value.rotation.deliveryId) {
      return void (await refuse(respond, 'This button does not belong to that rotation.'));
    }
    const details = (await rotationDetails(services.db, rotationId))!;
    const outcome = details.targets.find((t) => t.target.id === targetId);
    if (!outcome || outcome.status === 'written') {
      return void (await respond({ replace_original: true, ...rotationReport(details, encodeTicket(ticket)) }));
    }
    const plaintext = await openForRetry(services.db, ticket);
    if (plaintext === null) return void (await refuse(respond, 'The new key can no longer be recovered for a retry; rotate again.'));
    await writeTarget(services, deps.secrets, rotationId, outcome.target, plaintext, body.user.id);
    await respond({ replace_original: true, ...rotationReport((await rotationDetails(services.db, rotationId))!, encodeTicket(ticket)) });
  });

  app.action(ACTIONS.revokeOld, rowId, async ({ ack, body, respond }, rotationId) => {
    await ack();
    await deps.usage.flush();
    const result = await revokeOldKey(services, deps.actorOf(body.user.id), rotationId, false);
    if (!result.ok) return void (await refuse(respond, result.error));
    const details = (await rotationDetails(services.db, rotationId))!;
    if (!result.value.done) {
      try {
        await surface.openModal(body.trigger_id, revokeConfirmModal(details, result.value.lastUsedAt));
      } catch (error) {
        log.warn('revoke confirmation not opened', { rotation: rotationId, error });
        await refuse(respond, `Slack could not open the confirmation window (${code(slackErrorCode(error))}); the old key is not revoked, press *Revoke old key* again.`);
      }
      return;
    }
    await respond({ replace_original: true, ...reminderMessage(details) });
  });

  app.view(REVOKE_CONFIRM_CALLBACK, RevokeForm, async ({ ack, body }, { metadata: { rotation: rotationId } }) => {
    const result = await revokeOldKey(services, deps.actorOf(body.user.id), rotationId, true);
    if (!result.ok) {
      await ack({
        response_action: 'update',
        view: {
          type: 'modal',
          title: { type: 'plain_text', text: 'Not revoked' },
          close: { type: 'plain_text', text: 'Close' },
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:warning: ${result.error.message}` } }],
        },
      });
      return;
    }
    await ack();
    const details = (await rotationDetails(services.db, rotationId))!;
    if (details.rotation.reminder) {
      await surface.updateMessage(details.rotation.reminder, reminderMessage(details)).catch((error: unknown) => {
        log.warn('could not update the reminder after revocation', { rotation: rotationId, error });
      });
    }
  });

  app.action(ACTIONS.snooze, rowId, async ({ ack, body, respond }, rotationId) => {
    await ack();
    const result = await snoozeReminder(services, deps.actorOf(body.user.id), rotationId);
    if (!result.ok) return void (await refuse(respond, result.error));
    await respond({ replace_original: true, ...snoozedMessage((await rotationDetails(services.db, result.value.id))!) });
  });

  app.action(ACTIONS.keepBoth, rowId, async ({ ack, body, respond }, rotationId) => {
    await ack();
    const result = await keepBothKeys(services, deps.actorOf(body.user.id), rotationId);
    if (!result.ok) return void (await refuse(respond, result.error));
    await respond({ replace_original: true, ...reminderMessage((await rotationDetails(services.db, result.value.id))!) });
  });
}
