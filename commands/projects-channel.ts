import { z } from 'zod';
import { setApprovalsChannel } from '../src/services/projects.ts';
import { channelRef, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { channel } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'projects',
  verb: 'channel',
  usage: 'projects channel <project> <#channel>',
  summary: 'Post the approval requests of a project in this channel (Member and above).',
  positionals: ['project', 'channel'],
  schema: z.object({ project: projectName, channel: channelRef }),
  run(ctx, { project: name, channel: channelId }) {
    const result = setApprovalsChannel(ctx.services, ctx.actor, name, channelId);
    if (!result.ok) return result.error;
    return {
      text: `:white_check_mark: Approval requests of \`${name}\` will be posted in ${channel(channelId)}. Invite the app there with \`/invite @JamJet\` if it is not a member yet.`,
    };
  },
});
