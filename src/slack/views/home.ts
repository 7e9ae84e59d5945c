import type { KnownBlock, View } from '@slack/web-api';
import { ROLE_LABELS, type Role } from '../../core/roles.ts';

/** App Home: the projects a person belongs to, with their role. */
export function homeView(projects: readonly { project: string; role: Role }[], isAdmin: boolean): View {
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: 'JamJet control plane' } },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: 'Projects, members, API keys and approvals for JamJet. Type `/jamjet help` anywhere to see every command.',
      },
    },
    { type: 'divider' },
    { type: 'section', text: { type: 'mrkdwn', text: `*Your projects* (${projects.length})` } },
  ];
  if (projects.length === 0) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'None yet. Create one with `/jamjet projects create <name>`.' }],
    });
  }
  for (const { project, role } of projects.slice(0, 90)) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `\`${project}\`  ·  ${ROLE_LABELS[role]}` } });
  }
  if (isAdmin) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'You are a workspace admin: you act as Owner on every project.' }] });
  }
  return { type: 'home', blocks };
}
