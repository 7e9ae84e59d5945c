/** Block Kit for approval cards. Pure functions; everything an SDK sent is escaped. */
import type { KnownBlock, View } from '@slack/web-api';
import type { Approval } from '../../services/approvals.ts';
import { mapStrings, redact, redactValue } from '../../core/secrets.ts';
import { date, escape, escapeControls, mention } from '../mrkdwn.ts';
import type { Message } from '../surface.ts';

export const APPROVAL_ACTIONS = { approve: 'approval_approve', reject: 'approval_reject' } as const;
export const REJECT_CALLBACK = 'approval_reject_reason';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'text';

const CONTEXT_LIMIT = 2500;

/** Lengths long texts in a context are cut to, tried in turn until the whole context fits. */
const VALUE_CUTS = [500, 200, 80, 30];

const cut = (max: number) => (text: string) => (text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text);

/**
 * The SDK's context as indented JSON, cut to fit a Slack section. Redacted
 * value by value before it is serialised, so every field the agent sent is
 * shown and no pattern runs across fields. When it is too long, long texts
 * are shortened one by one first, so one padded field cannot push the
 * others off the card; only a context with too many fields is cut at the end.
 */
export function renderContext(context: Record<string, unknown>): string | null {
  if (Object.keys(context).length === 0) return null;
  const clean = redactValue(context);
  let json = JSON.stringify(clean, null, 2);
  for (const max of VALUE_CUTS) {
    if (json.length <= CONTEXT_LIMIT) break;
    json = JSON.stringify(mapStrings(clean, cut(max)), null, 2);
  }
  if (json.length > CONTEXT_LIMIT) json = `${json.slice(0, CONTEXT_LIMIT)}\n… (${json.length - CONTEXT_LIMIT} more characters)`;
  // Neither Slack's control characters nor a closing fence may come from the SDK.
  return '```' + escapeControls(json).replace(/```/g, "'''") + '```';
}

export interface CardInput {
  readonly approval: Approval;
  readonly project: string;
  readonly keyLabel: string;
  readonly note?: string;
}

function outcome(a: Approval): string {
  switch (a.status) {
    case 'approved':
      return `:white_check_mark: *Approved* by ${mention(a.decidedBy!)} ${date(a.decidedAt!)}`;
    case 'rejected':
      return `:x: *Rejected* by ${mention(a.decidedBy!)} ${date(a.decidedAt!)}${a.reason ? `: ${escape(a.reason)}` : ''}`;
    case 'expired':
      return `:hourglass: *Expired* ${date(a.decidedAt ?? a.expiresAt)} without a decision`;
    default:
      return '';
  }
}

export function approvalCard({ approval, project, keyLabel, note }: CardInput): Message {
  const action = escape(redact(approval.action));
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: `:raised_hand: *Approval requested* in \`${project}\`\n>${action.replace(/\n/g, '\n>')}` } },
  ];
  const context = renderContext(approval.context);
  if (context) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: context } });
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `Asked by key ${keyLabel} · request \`${approval.id}\` · expires ${date(approval.expiresAt)}` }],
  });
  if (note) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: note }] });
  if (approval.status === 'pending') {
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', action_id: APPROVAL_ACTIONS.approve, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: approval.id },
        { type: 'button', action_id: APPROVAL_ACTIONS.reject, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value: approval.id },
      ],
    });
  } else {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: outcome(approval) } });
  }
  const state = approval.status === 'pending' ? 'Approval requested' : `Approval ${approval.status}`;
  return { text: `${state} in \`${project}\`: ${action.slice(0, 150)}`, blocks };
}

/** *Reject* asks for an optional reason. */
export function rejectModal(approval: Approval, project: string): View {
  return {
    type: 'modal',
    callback_id: REJECT_CALLBACK,
    private_metadata: JSON.stringify({ approval: approval.id }),
    title: { type: 'plain_text', text: 'Reject request' },
    submit: { type: 'plain_text', text: 'Reject' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `Reject in \`${project}\`:\n>${escape(redact(approval.action))}` } },
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
