import type { KnownBlock, View } from '@slack/web-api';
import { ROLE_LABELS, type Role } from '../../core/roles.ts';
import type { Approval } from '../../services/approvals.ts';
import type { Rotation } from '../../services/rotations.ts';
import { redact } from '../../core/secrets.ts';
import { date, escape } from '../mrkdwn.ts';
import { APPROVAL_ACTIONS } from './approvals.ts';

export interface HomeInput {
  readonly roles: readonly { project: string; projectId: number; role: Role }[];
  readonly approvals: readonly { approval: Approval; project: string }[];
  readonly rotations: readonly Rotation[];
  readonly isAdmin: boolean;
  readonly notice?: string;
}

const section = (text: string): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text } });
const context = (text: string): KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });

/** App Home: your projects and roles, approvals you may decide, rotations in their overlap. */
export function homeView({ roles, approvals, rotations, isAdmin, notice }: HomeInput): View {
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'JamJet control plane' } }];
  if (notice) blocks.push(section(notice));
  blocks.push(context('Projects, members, API keys and approvals for JamJet. Type `/jamjet help` anywhere for every command.'));

  blocks.push({ type: 'divider' }, section(`*Approvals waiting for you* (${approvals.length})`));
  if (approvals.length === 0) blocks.push(context('Nothing to decide.'));
  for (const { approval, project } of approvals.slice(0, 15)) {
    blocks.push(section(`\`${project}\`: ${escape(redact(approval.action))}\nExpires ${date(approval.expiresAt)} · \`${approval.id}\``));
    blocks.push({
      type: 'actions',
      elements: [
        { type: 'button', action_id: APPROVAL_ACTIONS.approve, style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: approval.id },
        { type: 'button', action_id: APPROVAL_ACTIONS.reject, style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value: approval.id },
      ],
    });
  }

  const names = new Map(roles.map((r) => [r.projectId, r.project]));
  blocks.push({ type: 'divider' }, section(`*Rotations in their overlap* (${rotations.length})`));
  if (rotations.length === 0) blocks.push(context('None: every rotation is finished.'));
  for (const r of rotations.slice(0, 10)) {
    const when = r.remindAt ? `reminder ${date(r.remindAt)}` : 'no reminder';
    blocks.push(section(`\`${names.get(r.projectId) ?? 'project'}\`: started by <@${r.requestedBy}> ${date(r.createdAt)}; ${when}`));
  }

  blocks.push({ type: 'divider' }, section(`*Your projects* (${roles.length})`));
  if (roles.length === 0) blocks.push(context('None yet. Create one with `/jamjet projects create <name>`.'));
  for (const { project, role } of roles.slice(0, 40)) blocks.push(section(`\`${project}\` · ${ROLE_LABELS[role]}`));
  if (isAdmin) blocks.push(context('You are in JAMJET_ADMIN_USERS (set by whoever runs the bot; not a Slack admin role): you act as Owner on every project.'));
  return { type: 'home', blocks: blocks.slice(0, 100) };
}
