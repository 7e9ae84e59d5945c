import { z } from 'zod';
import { removeMember } from '../src/services/members.ts';
import { projectName, userMention } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { mention } from '../src/slack/mrkdwn.ts';
import { pausedNote } from '../src/slack/views/github.ts';

export default defineCommand({
  group: 'members',
  verb: 'remove',
  usage: 'members remove <project> <@user>',
  summary: 'Remove someone from a project (Admin and above; Owners only by Owners; never the last Owner).',
  positionals: ['project', 'user'],
  schema: z.object({ project: projectName, user: userMention }),
  run(ctx, { project: name, user }) {
    const result = removeMember(ctx.services, ctx.actor, name, user);
    if (!result.ok) return result.error;
    return { text: `:white_check_mark: ${mention(user)} no longer belongs to \`${name}\`.${pausedNote(result.value.paused, name)}` };
  },
});
