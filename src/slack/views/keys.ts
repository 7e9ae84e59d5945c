/** Block Kit for key delivery, rotation reports and reminders. Pure functions. */
import type { KnownBlock, View } from '@slack/web-api';
import type { ApiKey } from '../../services/keys.ts';
import type { Delivery } from '../../services/deliveries.ts';
import { describeSpec } from '../../services/github-targets.ts';
import type { RotationDetails } from '../../services/rotations.ts';
import { button, context as contextBlock, LIMITS, modalText, section as sectionBlock, truncate } from '../limits.ts';
import { date, escape, mention } from '../mrkdwn.ts';
import type { Message } from '../surface.ts';

export const ACTIONS = {
  reveal: 'key_reveal',
  retry: 'rotation_retry',
  revokeOld: 'rotation_revoke_old',
  snooze: 'rotation_snooze',
  keepBoth: 'rotation_keep_both',
} as const;
export const REVOKE_CONFIRM_CALLBACK = 'rotation_revoke_confirm';

const section = (text: string): KnownBlock => sectionBlock(text);
const context = (text: string): KnownBlock => contextBlock(text);

export const keyLabel = (key: ApiKey) => `\`${key.display}\` (${key.publicId}, ${escape(key.name)})`;

/**
 * The one-time delivery DM. `ticket` is the button value that opens the key;
 * without it (revealed, expired) the message only says what happened.
 */
export function revealMessage(project: string, key: ApiKey, delivery: Delivery, ticket: string | null, note?: string): Message {
  const intro = `:key: Your new API key for \`${project}\` is ${keyLabel(key)}.`;
  const blocks: KnownBlock[] = [section(intro)];
  if (note) blocks.push(context(note));
  let text: string;
  if (delivery.revealedAt !== null) {
    text = `${intro} It was revealed ${date(delivery.revealedAt)} and cannot be shown again.`;
    blocks.push(section(`:white_check_mark: Revealed ${date(delivery.revealedAt)}. It cannot be shown again.`));
  } else if (delivery.expiredAt !== null || ticket === null) {
    const at = delivery.expiredAt ?? delivery.revealUntil;
    text = `${intro} It expired unrevealed ${date(at)}.`;
    blocks.push(section(`:hourglass: Expired unrevealed ${date(at)}. Rotate again for a key you can see.`));
  } else {
    text = `${intro} Reveal it once, before ${date(delivery.revealUntil)}.`;
    blocks.push({
      type: 'actions',
      elements: [button({ actionId: ACTIONS.reveal, style: 'primary', text: 'Reveal key', value: ticket })],
    });
    blocks.push(context(`Only you can reveal it, once, before ${date(delivery.revealUntil)}. Store it in your secret manager right away.`));
  }
  return { text, blocks };
}

/** The modal that shows the key: the only place its plaintext ever appears. */
export function revealModal(project: string, key: ApiKey, plaintext: string): View {
  return {
    type: 'modal',
    title: modalText('Your new API key'),
    close: modalText('Done'),
    blocks: [
      section(`API key ${keyLabel(key)} for \`${project}\`. Copy it now: it will not be shown again.`),
      { type: 'section', text: { type: 'plain_text', text: plaintext, emoji: false } },
      context('Use it as `Authorization: Bearer <key>` or `JAMJET_API_KEY`.'),
    ],
  };
}

const STATUS_ICON = { written: ':white_check_mark:', failed: ':x:', pending: ':hourglass_flowing_sand:' } as const;

/** The first line of a rotation report, from the rotation's state now (not when it started). */
function reportHead({ rotation, project, oldKey, newKey, replacedBy }: RotationDetails): string {
  const name = `\`${project.name}\``;
  if (newKey.revokedAt !== null) {
    return `:no_entry: ${name}: new key ${keyLabel(newKey)} was revoked ${date(newKey.revokedAt)}; it is no longer written to GitHub.`;
  }
  if (replacedBy) {
    return `:fast_forward: ${name}: new key ${keyLabel(newKey)} was replaced by ${replacedBy.publicId} in a later rotation; it is no longer written to GitHub.`;
  }
  if (rotation.state === 'revoked' && rotation.remindAt === null) {
    return `:rotating_light: ${name}: new key ${keyLabel(newKey)}; the old key ${oldKey.publicId} was revoked at once.`;
  }
  if (rotation.state === 'revoked') {
    return `:lock: ${name}: new key ${keyLabel(newKey)}; the old key ${oldKey.publicId} was revoked ${date(rotation.finishedAt ?? rotation.createdAt)}.`;
  }
  if (rotation.state === 'kept') return `:handshake: ${name}: new key ${keyLabel(newKey)}; the rotation is finished and both keys were kept.`;
  return `:arrows_counterclockwise: ${name}: new key ${keyLabel(newKey)}. The old key ${oldKey.publicId} stays valid until you revoke it${rotation.remindAt ? `; I will remind you ${date(rotation.remindAt)}` : ''}.`;
}

/**
 * Where the new key was written; failed targets get a *Retry* button carrying
 * `ticket`, while the new key is still the one GitHub should hold.
 */
export function rotationReport(details: RotationDetails, ticket: string | null): Message {
  const { rotation, project, newKey, targets } = details;
  const head = reportHead(details);
  const retryable = ticket !== null && newKey.revokedAt === null && details.replacedBy === null;
  const blocks: KnownBlock[] = [section(head)];
  if (targets.length === 0 && details.paused.length === 0) {
    blocks.push(context(`No GitHub targets are linked; link one with \`/jamjet github link ${project.name} owner/repo\`.`));
  }
  // A failed target gets its own block with a Retry button; the others share
  // sections, so a project with many targets still fits Slack's 50 blocks.
  let shared: string[] = [];
  const flush = () => {
    if (shared.length > 0) blocks.push(section(shared.join('\n')));
    shared = [];
  };
  for (const { target, status, message } of targets) {
    const line = `${STATUS_ICON[status]} ${escape(describeSpec(target))}${message ? `: ${escape(message)}` : ''}`;
    if (status === 'failed' && retryable && blocks.length < LIMITS.messageBlocks - 3) {
      flush();
      blocks.push(
        sectionBlock(line, { accessory: button({ actionId: ACTIONS.retry, text: 'Retry', value: `${rotation.id}:${target.id}:${ticket}` }) }),
      );
    } else {
      const joined = [...shared, line].join('\n');
      if (joined.length > LIMITS.sectionText - 100) flush();
      shared.push(truncate(line, 600));
    }
  }
  for (const target of details.paused) {
    const why =
      target.pausedReason === 'linked_without_github_authority'
        ? `${mention(target.createdBy)} linked it before links needed GitHub's confirmation`
        : `${mention(target.createdBy)} linked it and is no longer Admin or Owner`;
    const line = `:double_vertical_bar: ${escape(describeSpec(target))}: paused, not written. ${why}; an Admin or Owner who is a GitHub admin there may link it again with \`/jamjet github link ${project.name}\`.`;
    const joined = [...shared, line].join('\n');
    if (joined.length > LIMITS.sectionText - 100) flush();
    shared.push(truncate(line, 600));
  }
  flush();
  const failed = targets.filter((t) => t.status === 'failed').length;
  const summary =
    targets.length === 0
      ? details.paused.length === 0
        ? 'no GitHub targets'
        : 'no GitHub targets written'
      : `${targets.length - failed} of ${targets.length} GitHub targets written`;
  return { text: `${head} (${summary})`, blocks };
}

/** The end-of-overlap reminder, with the buttons that finish the rotation. */
export function reminderMessage(details: RotationDetails, note?: string): Message {
  const { rotation, project, oldKey, newKey } = details;
  const used = oldKey.lastUsedAt ? `last used ${date(oldKey.lastUsedAt)}` : 'never used';
  const head = `:alarm_clock: The overlap of the \`${project.name}\` rotation is over. Old key ${keyLabel(oldKey)} was ${used}; new key ${newKey.publicId}.`;
  const blocks: KnownBlock[] = [section(head)];
  if (note) blocks.push(context(note));
  const unwritten = details.targets.filter((t) => t.status !== 'written');
  if (unwritten.length > 0) {
    const where = truncate(unwritten.map((t) => escape(describeSpec(t.target))).join('; '), 2000);
    blocks.push(section(`:warning: The new key is not on GitHub yet: ${where}. Revoking the old key now breaks what still uses it there.`));
  }
  if (rotation.state === 'overlap') {
    blocks.push({
      type: 'actions',
      elements: [
        button({ actionId: ACTIONS.revokeOld, style: 'danger', text: 'Revoke old key', value: String(rotation.id) }),
        button({ actionId: ACTIONS.snooze, text: 'Snooze 1 day', value: String(rotation.id) }),
        button({ actionId: ACTIONS.keepBoth, text: 'Keep both', value: String(rotation.id) }),
      ],
    });
  } else {
    const how = rotation.state === 'revoked' ? ':lock: Old key revoked' : ':handshake: Both keys kept';
    blocks.push(section(`${how} by ${mention(rotation.finishedBy ?? rotation.requestedBy)} ${date(rotation.finishedAt ?? rotation.createdAt)}.`));
  }
  return { text: head, blocks };
}

export function snoozedMessage(details: RotationDetails): Message {
  const { project, rotation } = details;
  const text = `:zzz: Reminder for the \`${project.name}\` rotation snoozed until ${date(rotation.remindAt ?? 0)}.`;
  return { text, blocks: [section(text)] };
}

/** Confirmation before revoking a key that is still in use. */
export function revokeConfirmModal(details: RotationDetails, lastUsedAt: number): View {
  return {
    type: 'modal',
    callback_id: REVOKE_CONFIRM_CALLBACK,
    private_metadata: JSON.stringify({ rotation: details.rotation.id }),
    title: modalText('Revoke old key?'),
    submit: modalText('Revoke now'),
    close: modalText('Cancel'),
    blocks: [
      section(
        `:warning: Old key ${keyLabel(details.oldKey)} of \`${details.project.name}\` was used ${date(lastUsedAt)}, less than 15 minutes ago. Something still calls with it; revoking it breaks those calls at once.`,
      ),
    ],
  };
}
