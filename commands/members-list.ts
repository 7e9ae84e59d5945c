import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { listMembers } from '../src/services/members.ts';
import { page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';
import { escape, mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'members',
  verb: 'list',
  usage: 'members list <project> [--page N]',
  summary: 'List the members of a project and pending e-mail invitations.',
  positionals: ['project'],
  flags: { page: 'value' },
  schema: z.object({ project: projectName, page }),
  async run(ctx, { project: name, page: n }) {
    const result = await listMembers(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { members, invites } = result.value;
    const lines = members.map((m) => `• ${mention(m.userId)}: ${ROLE_LABELS[m.role]}`);
    if (invites.length > 0) {
      lines.push(`*Pending invitations* (${invites.length})`);
      lines.push(...invites.map((i) => `• ${escape(i.email)}: ${ROLE_LABELS[i.role]}, invited by ${mention(i.invitedBy)}`));
    }
    return pageOf({ title: `*Members of \`${name}\`* (${members.length})`, lines, page: n, command: `members list ${name}` });
  },
});
