import { z } from 'zod';
import { createProjects } from '../src/services/projects.ts';
import { envList, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';

export default defineCommand({
  group: 'projects',
  verb: 'create',
  usage: 'projects create <name> [--envs dev,staging,prod]',
  summary: 'Create a project (one per environment with --envs); you become its Owner.',
  positionals: ['name'],
  flags: { envs: 'value' },
  schema: z.object({ name: projectName, envs: envList.optional() }),
  run(ctx, { name, envs }) {
    const result = createProjects(ctx.services, ctx.actor, name, envs ?? null);
    if (!result.ok) return result.error;
    const names = result.value.map((p) => `\`${p.name}\``).join(', ');
    const plural = result.value.length > 1 ? 'Projects' : 'Project';
    return {
      text: `:white_check_mark: ${plural} ${names} created. You are Owner.\nNext: \`/jamjet members invite ${result.value[0]!.name} @teammate member\`.`,
    };
  },
});
