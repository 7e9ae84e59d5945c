import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { rolesOf } from '../src/services/members.ts';
import { page } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';
import { mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'whoami',
  usage: 'whoami [--page N]',
  summary: 'Show your roles in every project you belong to.',
  positionals: [],
  flags: { page: 'value' },
  schema: z.object({ page }),
  async run(ctx, { page: n }) {
    const roles = await rolesOf(ctx.services, ctx.actor.userId);
    const title = [`You are ${mention(ctx.actor.userId)}.`];
    if (ctx.actor.isAdmin) title.push('You are in JAMJET_ADMIN_USERS (set by whoever runs the bot; not a Slack admin role): you act as Owner on every project.');
    if (roles.length === 0) title.push('You belong to no project yet. Create one with `/jamjet projects create <name>`.');
    else title.push(`Your projects (${roles.length}):`);
    const lines = roles.map((r) => `• \`${r.project}\`: ${ROLE_LABELS[r.role]}`);
    return pageOf({ title: title.join('\n'), lines, page: n, command: 'whoami' });
  },
});
