import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { addMember, addPendingInvite } from '../src/services/members.ts';
import { invitee, projectName, role } from '../src/slack/args.ts';
import { defineCommand, type CommandContext } from '../src/slack/command.ts';
import { code, escape, mention } from '../src/slack/mrkdwn.ts';
import { slackErrorCode } from '../src/slack/surface.ts';

/** Tells the new member by DM; a failed DM does not undo the membership, it is reported. */
async function tellByDm(ctx: CommandContext, userId: string, project: string, label: string): Promise<string> {
  try {
    await ctx.chat.postDm(userId, {
      text: `${mention(ctx.actor.userId)} added you to the JamJet project \`${project}\` as ${label}. See it with \`/jamjet projects info ${project}\`.`,
    });
    return 'They were told by DM.';
  } catch (error) {
    ctx.log.warn('invite DM failed', { user: userId, error });
    return `I could not DM them (${code(slackErrorCode(error))}); please let them know.`;
  }
}

export default defineCommand({
  group: 'members',
  verb: 'invite',
  usage: 'members invite <project> <@user|email> [owner|admin|member|read_only]',
  summary: 'Add someone to a project (default role member); an address not in Slack yet is kept until they join.',
  positionals: ['project', 'who', 'role?'],
  schema: z.object({ project: projectName, who: invitee, role: role.default('member') }),
  async run(ctx, { project: name, who, role: wanted }) {
    const label = ROLE_LABELS[wanted];
    let userId: string;
    if ('userId' in who) {
      const user = await ctx.users.getUser(who.userId);
      if (!user || user.deleted) return { code: 'unknown_user', message: `I cannot find ${mention(who.userId)} in this workspace.` };
      if (user.isBot) return { code: 'bad_input', message: `${mention(who.userId)} is an app, not a person.` };
      if (user.isGuest) return { code: 'bad_input', message: `${mention(who.userId)} is a Slack guest, and guests cannot use JamJet.` };
      if (user.isExternal) {
        return { code: 'bad_input', message: `${mention(who.userId)} belongs to another Slack organisation, and only this organisation's people can use JamJet.` };
      }
      userId = user.id;
    } else {
      const user = await ctx.users.lookupByEmail(who.email);
      if (!user) {
        const result = await addPendingInvite(ctx.services, ctx.actor, name, who.email, wanted);
        if (!result.ok) return result.error;
        return {
          text: `:envelope: No one in this workspace uses ${escape(who.email)} yet. They will join \`${name}\` as ${label} the first time they use \`/jamjet\`.`,
        };
      }
      if (user.isBot || user.deleted) return { code: 'unknown_user', message: `${escape(who.email)} does not belong to an active person in this workspace.` };
      if (user.isGuest) return { code: 'bad_input', message: `${escape(who.email)} belongs to a Slack guest, and guests cannot use JamJet.` };
      if (user.isExternal) {
        return { code: 'bad_input', message: `${escape(who.email)} belongs to someone from another Slack organisation, and only this organisation's people can use JamJet.` };
      }
      userId = user.id;
    }
    const result = await addMember(ctx.services, ctx.actor, name, userId, wanted);
    if (!result.ok) return result.error;
    const told = await tellByDm(ctx, userId, name, label);
    return { text: `:white_check_mark: ${mention(userId)} is now ${label} in \`${name}\`. ${told}` };
  },
});
