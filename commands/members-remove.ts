import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { removeMember, withdrawInvite } from '../src/services/members.ts';
import { invitee, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { escape, mention } from '../src/slack/mrkdwn.ts';
import { withdrawnNote } from '../src/slack/views/approvals.ts';
import { pausedNote } from '../src/slack/views/github.ts';

export default defineCommand({
  group: 'members',
  verb: 'remove',
  usage: 'members remove <project> <@user|email>',
  summary:
    'Remove someone from a project, or withdraw a pending e-mail invitation (Admin and above; Owners only by Owners; never the last Owner).',
  positionals: ['project', 'user'],
  schema: z.object({ project: projectName, user: invitee }),
  async run(ctx, { project: name, user: who }) {
    if ('email' in who) {
      const withdrawn = await withdrawInvite(ctx.services, ctx.actor, name, who.email);
      if (!withdrawn.ok) return withdrawn.error;
      return {
        text: `:white_check_mark: The invitation of ${escape(who.email)} to \`${name}\` as ${ROLE_LABELS[withdrawn.value.role]} is withdrawn.`,
      };
    }
    const result = await removeMember(ctx.services, ctx.actor, name, who.userId);
    if (!result.ok) return result.error;
    if (result.value.withdrawn.length > 0) ctx.kick?.();
    return { text: `:white_check_mark: ${mention(who.userId)} no longer belongs to \`${name}\`.${withdrawnNote(result.value.withdrawn)}${pausedNote(result.value.paused, name)}` };
  },
});
