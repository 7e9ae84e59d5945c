/** Block Kit for approval cards. Pure functions; everything an SDK sent is escaped. */
import type { KnownBlock, View } from '@slack/web-api';
import type { Approval } from '../../services/approvals.ts';
import { mapStrings, redactValue } from '../../core/secrets.ts';
import { button, context, LIMITS, modalText, section, truncate } from '../limits.ts';
import { date, escape, escapeControls, mention } from '../mrkdwn.ts';
import { ruleLine } from './approval-rule.ts';
import type { Message } from '../surface.ts';

export const APPROVAL_ACTIONS = { approve: 'approval_approve', reject: 'approval_reject' } as const;
export const REJECT_CALLBACK = 'approval_reject_reason';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'text';

/** Room for the note that says how much of the context is not shown. */
const HIDDEN_NOTE = 40;

/** Lengths long texts in a context are cut to, tried in turn until the whole context fits. */
const VALUE_CUTS = [500, 200, 80, 30];

/** `text` cut to `max` UTF-16 units, never between the halves of an emoji (JSON would show the half as `\\ud83d`). */
const cut = (max: number) => (text: string) => {
  if (text.length <= max) return text;
  const high = text.charCodeAt(max - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? max - 1 : max;
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
};

/**
 * The SDK's context as indented JSON in a code block that fits a Slack
 * section (3,000 characters counted after escaping). Redacted value by value
 * before it is serialised, so every field the agent sent is shown and no
 * pattern runs across fields. When it is too long, long texts are shortened
 * one by one first, so one padded field cannot push the others off the card;
 * only a context with too many fields is cut at the end, on a character
 * boundary, never through an escape, saying how many characters are not shown.
 */
export function renderContext(context: Record<string, unknown>): string | null {
  if (Object.keys(context).length === 0) return null;
  const clean = redactValue(context);
  // Neither Slack's control characters nor a closing fence may come from the SDK.
  const render = (value: unknown) => escapeControls(JSON.stringify(value, null, 2)).replace(/```/g, "'''");
  const room = LIMITS.sectionText - 6;
  let body = render(clean);
  for (const max of VALUE_CUTS) {
    if (body.length <= room) break;
    body = render(mapStrings(clean, cut(max)));
  }
  if (body.length <= room) return '```' + body + '```';
  const shown = truncate(body, room - HIDDEN_NOTE, true);
  // The count is of escaped characters, the same unit as the cut.
  return '```' + `${shown}\n(${body.length - shown.length + 1} more characters)` + '```';
}

export interface CardInput {
  readonly approval: Approval;
  readonly project: string;
  readonly keyLabel: string;
  readonly note?: string;
  /** Leave out the context: the card Slack refused was too large; point to `approvals list` instead. */
  readonly withoutContext?: boolean;
}

/**
 * The sentence a role change adds when it withdrew the person's approvals of
 * pending requests (`ids`: the request ids); empty when none.
 */
export function withdrawnNote(ids: readonly string[]): string {
  if (ids.length === 0) return '';
  const which = ids.length === 1 ? `request \`${ids[0]}\`` : `${ids.length} pending requests`;
  return ` Their approval of ${which} is withdrawn; it no longer counts, even if they get the role back.`;
}

/** `Approvals: 1 of 2 — <@U1> (date)`, for requests that need more than one person. */
export function approvalsLine(a: Approval): string {
  const who = a.approvals.map((v) => `${mention(v.user)} (${date(v.at)})`).join(', ');
  return `Approvals: ${a.approvals.length} of ${a.approvalsRequired}${who ? ` — ${who}` : ''}`;
}

function outcome(a: Approval): string {
  switch (a.status) {
    case 'approved':
      if (a.approvalsRequired > 1) {
        return `:white_check_mark: *Approved* ${date(a.decidedAt!)} by ${a.approvals.map((v) => mention(v.user)).join(', ')} (${a.approvals.length} of ${a.approvalsRequired})`;
      }
      return `:white_check_mark: *Approved* by ${mention(a.decidedBy!)} ${date(a.decidedAt!)}`;
    case 'rejected':
      return `:x: *Rejected* by ${mention(a.decidedBy!)} ${date(a.decidedAt!)}${a.reason ? `: ${escape(a.reason)}` : ''}`;
    case 'expired':
      return `:hourglass: *Expired* ${date(a.decidedAt ?? a.expiresAt)} without a decision`;
    default:
      return '';
  }
}

export function approvalCard({ approval, project, keyLabel, note, withoutContext }: CardInput): Message {
  const action = escape(approval.action);
  const blocks: KnownBlock[] = [section(`:raised_hand: *Approval requested* in \`${project}\`\n>${action.replace(/\n/g, '\n>')}`)];
  const rule = ruleLine(approval.context);
  if (rule) blocks.push(context(rule));
  const shown = withoutContext ? null : renderContext(approval.context);
  if (shown) blocks.push(section(shown));
  if (withoutContext && Object.keys(approval.context).length > 0) {
    blocks.push(context(`The request's context is too large for a Slack card; \`/jamjet approvals list ${project}\` lists the pending requests.`));
  }
  blocks.push(context(`Asked by key ${keyLabel} · request \`${approval.id}\` · expires ${date(approval.expiresAt)}`));
  if (note) blocks.push(context(note));
  if (approval.escalatedAt !== null && approval.status === 'pending') {
    blocks.push(context(`:rotating_light: Escalated to the project's Admins and Owners ${date(approval.escalatedAt)}: nobody decided in time.`));
  }
  // Approved cards name their approvers in the outcome below.
  if (approval.approvalsRequired > 1 && approval.status !== 'approved') blocks.push(context(approvalsLine(approval)));
  if (approval.status === 'pending') {
    blocks.push({
      type: 'actions',
      elements: [
        button({ actionId: APPROVAL_ACTIONS.approve, style: 'primary', text: 'Approve', value: approval.id }),
        button({ actionId: APPROVAL_ACTIONS.reject, style: 'danger', text: 'Reject', value: approval.id }),
      ],
    });
  } else {
    blocks.push(section(outcome(approval)));
  }
  const state = approval.status === 'pending' ? 'Approval requested' : `Approval ${approval.status}`;
  return { text: `${state} in \`${project}\`: ${truncate(action, 150)}`, blocks };
}

/** *Reject* asks for an optional reason. */
export function rejectModal(approval: Approval, project: string): View {
  return {
    type: 'modal',
    callback_id: REJECT_CALLBACK,
    private_metadata: JSON.stringify({ approval: approval.id }),
    title: modalText('Reject request'),
    submit: modalText('Reject'),
    close: modalText('Cancel'),
    blocks: [
      section(`Reject in \`${project}\`:\n>${escape(approval.action).replace(/\n/g, '\n>')}`),
      {
        type: 'input',
        block_id: REASON_BLOCK,
        optional: true,
        label: { type: 'plain_text', text: 'Reason (sent back to the agent)' },
        element: { type: 'plain_text_input', action_id: REASON_INPUT, multiline: true, max_length: 500 },
      },
    ],
  };
}
