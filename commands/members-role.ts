import { z } from 'zod';
import type { AppError } from '../src/core/errors.ts';
import { ROLE_LABELS, ROLES, type Role } from '../src/core/roles.ts';
import { authorize } from '../src/services/access.ts';
import { changeRole, rolesOf } from '../src/services/members.ts';
import { projectName, role, userMention } from '../src/slack/args.ts';
import { defineCommand, type CommandContext } from '../src/slack/command.ts';
import { mention } from '../src/slack/mrkdwn.ts';
import { withdrawnNote } from '../src/slack/views/approvals.ts';
import { pausedNote } from '../src/slack/views/github.ts';

/** Whether `wanted` gives more than `current` (ROLES runs from Owner down). */
const raises = (current: Role, wanted: Role) => ROLES.indexOf(wanted) < ROLES.indexOf(current);

/**
 * Why Slack says `userId` may not use JamJet (deactivated, an app, a guest,
 * from another organisation), or null when they may. Slack failures throw.
 */
async function mayNotUse(ctx: CommandContext, userId: string): Promise<AppError | null> {
  const account = await ctx.users.getUser(userId);
  const why = !account || account.deleted
    ? 'has no active account in this workspace'
    : account.isBot
      ? 'is an app, not a person'
      : account.isGuest
        ? 'is a Slack guest, and guests cannot use JamJet'
        : account.isExternal
          ? "belongs to another Slack organisation, and only this organisation's people can use JamJet"
          : null;
  return why ? { code: 'bad_input', message: `${mention(userId)} ${why}, so their role can only be lowered or taken away.` } : null;
}

export default defineCommand({
  group: 'members',
  verb: 'role',
  usage: 'members role <project> <@user> <role>',
  summary: "Change a member's role (Admin and above; Owner is granted and taken only by Owners).",
  positionals: ['project', 'user', 'role'],
  schema: z.object({ project: projectName, user: userMention, role }),
  async run(ctx, { project: name, user, role: wanted }) {
    // A raise goes only to someone who may use JamJet: a deactivated Owner could otherwise be the one left.
    // The role of the person asking first, so that someone without a say learns nothing about the member.
    const allowed = await authorize(ctx.services.db, ctx.actor, name, 'manage_members');
    if (!allowed.ok) return allowed.error;
    const current = (await rolesOf(ctx.services, user)).find((r) => r.projectId === allowed.value.project.id)?.role;
    if (current && raises(current, wanted)) {
      const refusal = await mayNotUse(ctx, user);
      if (refusal) return refusal;
    }
    const result = await changeRole(ctx.services, ctx.actor, name, user, wanted);
    if (!result.ok) return result.error;
    // The cards of the requests whose approvals were withdrawn show the lower count now, not at the next poll.
    if (result.value.withdrawn.length > 0) ctx.kick?.();
    return {
      text: `:white_check_mark: ${mention(user)} is now ${ROLE_LABELS[wanted]} in \`${name}\` (was ${ROLE_LABELS[result.value.previous]}).${withdrawnNote(result.value.withdrawn)}${pausedNote(result.value.paused, name)}`,
    };
  },
});
