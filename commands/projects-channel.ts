import { z } from 'zod';
import { checkCanSetChannel, setApprovalsChannel } from '../src/services/projects.ts';
import { channelRef, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { channel, code } from '../src/slack/mrkdwn.ts';
import { slackErrorCode, type SlackChannel } from '../src/slack/surface.ts';

/** `off` takes the channel back: requests go to the Owners by DM again. */
const channelOrOff = z.string().transform((value, ctx): 'off' | string => {
  if (value.toLowerCase() === 'off') return 'off';
  const parsed = channelRef.safeParse(value);
  if (parsed.success) return parsed.data;
  ctx.addIssue({ code: 'custom', message: parsed.error.issues[0]?.message ?? 'Name a channel with #, or off.' });
  return z.NEVER;
});

export default defineCommand({
  group: 'projects',
  verb: 'channel',
  usage: 'projects channel <project> <#channel|off>',
  summary:
    'Post the approval requests of a project in a channel you and the app are both in, or `off` to send them to the Owners by DM (Member and above).',
  positionals: ['project', 'channel'],
  schema: z.object({ project: projectName, channel: channelOrOff }),
  async run(ctx, { project: name, channel: wanted }) {
    // The role first: someone with no say over the project learns nothing about the channel either.
    const allowed = await checkCanSetChannel(ctx.services, ctx.actor, name);
    if (!allowed.ok) return allowed.error;
    if (wanted === 'off') {
      const result = await setApprovalsChannel(ctx.services, ctx.actor, name, null);
      if (!result.ok) return result.error;
      return { text: `:white_check_mark: \`${name}\` has no approvals channel any more; its approval requests go to its Owners by DM.` };
    }
    const where = channel(wanted);
    let info: SlackChannel | null;
    let present: boolean;
    try {
      info = await ctx.channels.getChannel(wanted);
      present = info !== null && info.botIsMember && !info.isArchived && !info.isExternal && !info.isDirect
        ? await ctx.channels.isChannelMember(wanted, ctx.actor.userId)
        : false;
    } catch (error) {
      ctx.log.warn('channel check failed', { channel: wanted, error });
      if (slackErrorCode(error) === 'missing_scope') {
        return {
          code: 'upstream',
          message: 'The app may not read channels yet (it needs the channels:read and groups:read scopes); reinstall it from manifest.yml, then run this again.',
        };
      }
      return { code: 'upstream', message: `Slack could not tell me about ${where} (${code(slackErrorCode(error))}); nothing changed, try again in a moment.` };
    }
    if (info === null) {
      return {
        code: 'not_found',
        message: `I cannot see ${where}: it does not exist, or it is private and I am not in it. Invite me there with \`/invite @JamJet\`, then run this again.`,
      };
    }
    if (info.isDirect) return { code: 'bad_input', message: `${where} is a direct conversation; pick a channel for approval requests.` };
    if (info.isArchived) return { code: 'bad_input', message: `${where} is archived; pick a channel that is in use.` };
    if (info.isExternal) {
      return {
        code: 'bad_input',
        message: `${where} is shared with another organisation (Slack Connect); approval requests stay inside this workspace, so pick an internal channel.`,
      };
    }
    if (!info.botIsMember) {
      return { code: 'bad_input', message: `I am not in ${where}; invite me there with \`/invite @JamJet\`, then run this again.` };
    }
    if (!present) {
      return { code: 'forbidden', message: `You are not in ${where}; join it first, or pick a channel you are in.` };
    }
    const result = await setApprovalsChannel(ctx.services, ctx.actor, name, wanted);
    if (!result.ok) return result.error;
    return { text: `:white_check_mark: Approval requests of \`${name}\` will be posted in ${where}.` };
  },
});
