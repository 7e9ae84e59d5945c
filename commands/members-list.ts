import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { listMembers } from '../src/services/members.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { escape, mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'members',
  verb: 'list',
  usage: 'members list <project>',
  summary: 'List the members of a project and pending e-mail invitations.',
  positionals: ['project'],
  schema: z.object({ project: projectName }),
  run(ctx, { project: name }) {
    const result = listMembers(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { members, invites } = result.value;
    const lines = [`*Members of \`${name}\`* (${members.length})`];
    lines.push(...members.map((m) => `• ${mention(m.userId)}: ${ROLE_LABELS[m.role]}`));
    if (invites.length > 0) {
      lines.push(`*Pending invitations* (${invites.length})`);
      lines.push(...invites.map((i) => `• ${escape(i.email)}: ${ROLE_LABELS[i.role]}, invited by ${mention(i.invitedBy)}`));
    }
    return { text: lines.join('\n') };
  },
});
