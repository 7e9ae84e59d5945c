import type { KnownBlock, View } from '@slack/web-api';
import { ROLE_LABELS, type Role } from '../../core/roles.ts';
import { approvalsMissing, plural, type Approval } from '../../services/approvals.ts';
import type { Rotation } from '../../services/rotations.ts';
import { redact } from '../../core/secrets.ts';
import { button, context as contextBlock, fitView, header, section as sectionBlock } from '../limits.ts';
import { date, escape } from '../mrkdwn.ts';
import { APPROVAL_ACTIONS } from './approvals.ts';

export interface HomeInput {
  readonly roles: readonly { project: string; projectId: number; role: Role }[];
  readonly approvals: readonly { approval: Approval; project: string }[];
  readonly rotations: readonly Rotation[];
  readonly isAdmin: boolean;
  readonly notice?: string;
}

const section = (text: string): KnownBlock => sectionBlock(text);
const context = (text: string): KnownBlock => contextBlock(text);
const more = (shown: number, total: number, where: string): KnownBlock[] =>
  total > shown ? [context(`…and ${total - shown} more: ${where}`)] : [];

/** App Home: your projects and roles, approvals you may decide, rotations in their overlap. */
export function homeView({ roles, approvals, rotations, isAdmin, notice }: HomeInput): View {
  const blocks: KnownBlock[] = [header('JamJet control plane')];
  if (notice) blocks.push(section(notice));
  blocks.push(context('Projects, members, API keys and approvals for JamJet. Type `/jamjet help` anywhere for every command.'));

  // The list comes from a capped query: past what is shown, the count is not known, only that there are more.
  const waiting = approvals.length > 15 ? 'more than 15' : String(approvals.length);
  blocks.push({ type: 'divider' }, section(`*Approvals waiting for you* (${waiting})`));
  if (approvals.length === 0) blocks.push(context('Nothing to decide.'));
  for (const { approval, project } of approvals.slice(0, 15)) {
    const needs = approvalsMissing(approval);
    const votes = approval.approvals.length === 0
      ? ` · needs ${plural(needs, 'approval')}`
      : ` · needs ${plural(needs, 'more approval')} (${approval.approvals.length} of ${approval.approvalsRequired})`;
    blocks.push(section(`\`${project}\`: ${escape(redact(approval.action))}\nExpires ${date(approval.expiresAt)}${votes} · \`${approval.id}\``));
    blocks.push({
      type: 'actions',
      elements: [
        button({ actionId: APPROVAL_ACTIONS.approve, style: 'primary', text: 'Approve', value: approval.id }),
        button({ actionId: APPROVAL_ACTIONS.reject, style: 'danger', text: 'Reject', value: approval.id }),
      ],
    });
  }
  // The list above is already cut by its query, so no count: only that more are waiting.
  if (approvals.length > 15) blocks.push(context('More are waiting: `/jamjet approvals list <project>` shows every pending request.'));

  const names = new Map(roles.map((r) => [r.projectId, r.project]));
  blocks.push({ type: 'divider' }, section(`*Rotations in their overlap* (${rotations.length})`));
  if (rotations.length === 0) blocks.push(context('None: every rotation is finished.'));
  for (const r of rotations.slice(0, 10)) {
    const when = r.remindAt ? `reminder ${date(r.remindAt)}` : 'no reminder';
    blocks.push(section(`\`${names.get(r.projectId) ?? 'project'}\`: started by <@${r.requestedBy}> ${date(r.createdAt)}; ${when}`));
  }
  blocks.push(...more(10, rotations.length, 'each rotation has its reminder DM.'));

  blocks.push({ type: 'divider' }, section(`*Your projects* (${roles.length})`));
  if (roles.length === 0) blocks.push(context('None yet. Create one with `/jamjet projects create <name>`.'));
  for (const { project, role } of roles.slice(0, 40)) blocks.push(section(`\`${project}\` · ${ROLE_LABELS[role]}`));
  blocks.push(...more(40, roles.length, '`/jamjet projects list` lists them all.'));
  if (isAdmin) blocks.push(context('You are in JAMJET_ADMIN_USERS (set by whoever runs the bot; not a Slack admin role): you act as Owner on every project.'));
  return fitView({ type: 'home', blocks });
}
