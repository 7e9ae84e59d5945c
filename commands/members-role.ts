import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { changeRole } from '../src/services/members.ts';
import { projectName, role, userMention } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { mention } from '../src/slack/mrkdwn.ts';
import { pausedNote } from '../src/slack/views/github.ts';

export default defineCommand({
  group: 'members',
  verb: 'role',
  usage: 'members role <project> <@user> <role>',
  summary: "Change a member's role (Admin and above; Owner is granted and taken only by Owners).",
  positionals: ['project', 'user', 'role'],
  schema: z.object({ project: projectName, user: userMention, role }),
  run(ctx, { project: name, user, role: wanted }) {
    const result = changeRole(ctx.services, ctx.actor, name, user, wanted);
    if (!result.ok) return result.error;
    return {
      text: `:white_check_mark: ${mention(user)} is now ${ROLE_LABELS[wanted]} in \`${name}\` (was ${ROLE_LABELS[result.value.previous]}).${pausedNote(result.value.paused, name)}`,
    };
  },
});
