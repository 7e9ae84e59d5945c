import { z } from 'zod';
import { createProjects } from '../src/services/projects.ts';
import { envList, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { deliverKeys } from '../src/slack/delivery.ts';

export default defineCommand({
  group: 'projects',
  verb: 'create',
  usage: 'projects create <name> [--envs dev,staging,prod]',
  summary: 'Create a project (one per environment with --envs); you become its Owner and get its first API key by DM.',
  positionals: ['name'],
  flags: { envs: 'value' },
  schema: z.object({ name: projectName, envs: envList.optional() }),
  async run(ctx, { name, envs }) {
    const result = await createProjects(ctx.services, ctx.actor, name, envs ?? null);
    if (!result.ok) return result.error;
    const created = result.value;
    const names = created.map((c) => `\`${c.project.name}\``).join(', ');
    const plural = created.length > 1 ? 'Projects' : 'Project';
    return {
      text: `:white_check_mark: ${plural} ${names} created. You are Owner. I am sending you the first API key of each by DM, to reveal once.\nNext: \`/jamjet members invite ${created[0]!.project.name} @teammate member\`.`,
      followUp: (respond) =>
        deliverKeys(
          ctx,
          ctx.actor.userId,
          created.map((item) => ({ project: item.project.name, key: item.key, ticket: item.ticket })),
          respond,
        ),
    };
  },
});
