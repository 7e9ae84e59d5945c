import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { listProjects } from '../src/services/projects.ts';
import { page } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';

export default defineCommand({
  group: 'projects',
  verb: 'list',
  usage: 'projects list [--page N]',
  summary: 'List the projects you belong to (people in JAMJET_ADMIN_USERS see all).',
  positionals: [],
  flags: { page: 'value' },
  schema: z.object({ page }),
  async run(ctx, { page: n }) {
    const projects = await listProjects(ctx.services, ctx.actor);
    if (projects.length === 0) {
      return { text: 'You belong to no project yet. Create one with `/jamjet projects create <name>`.' };
    }
    const lines = projects.map(({ project, role }) => {
      const as = role ? ROLE_LABELS[role] : 'Owner through JAMJET_ADMIN_USERS';
      return `• \`${project.name}\`: ${as}`;
    });
    return pageOf({ title: `*Your projects* (${projects.length})`, lines, page: n, command: 'projects list' });
  },
});
