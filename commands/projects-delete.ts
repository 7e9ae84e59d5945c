import { z } from 'zod';
import { checkCanDelete } from '../src/services/projects.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { deleteProjectModal } from '../src/slack/views/delete-project.ts';

export default defineCommand({
  group: 'projects',
  verb: 'delete',
  usage: 'projects delete <project>',
  summary: 'Delete a project (Owner only), after typing its name to confirm. Its audit trail is kept.',
  positionals: ['project'],
  schema: z.object({ project: projectName }),
  async run(ctx, { project: name }) {
    const result = await checkCanDelete(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    await ctx.chat.openModal(ctx.triggerId, deleteProjectModal(result.value.name, result.value.id));
    return null;
  },
});
