import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { rolesOf } from '../src/services/members.ts';
import { defineCommand } from '../src/slack/command.ts';
import { mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'whoami',
  usage: 'whoami',
  summary: 'Show your roles in every project you belong to.',
  positionals: [],
  schema: z.object({}),
  run(ctx) {
    const roles = rolesOf(ctx.services, ctx.actor.userId);
    const lines = [`You are ${mention(ctx.actor.userId)}.`];
    if (ctx.actor.isAdmin) lines.push('You are in JAMJET_ADMIN_USERS (set by whoever runs the bot; not a Slack admin role): you act as Owner on every project.');
    if (roles.length === 0) lines.push('You belong to no project yet. Create one with `/jamjet projects create <name>`.');
    else lines.push(...roles.map((r) => `• \`${r.project}\`: ${ROLE_LABELS[r.role]}`));
    return { text: lines.join('\n') };
  },
});
