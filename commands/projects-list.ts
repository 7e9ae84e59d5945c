import { z } from 'zod';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { listProjects } from '../src/services/projects.ts';
import { defineCommand } from '../src/slack/command.ts';

const SHOWN = 100;

export default defineCommand({
  group: 'projects',
  verb: 'list',
  usage: 'projects list',
  summary: 'List the projects you belong to (people in JAMJET_ADMIN_USERS see all).',
  positionals: [],
  schema: z.object({}),
  run(ctx) {
    const projects = listProjects(ctx.services, ctx.actor);
    if (projects.length === 0) {
      return { text: 'You belong to no project yet. Create one with `/jamjet projects create <name>`.' };
    }
    // A Slack message holds about 40,000 characters: show the first hundred.
    const lines = projects.slice(0, SHOWN).map(({ project, role }) => {
      const as = role ? ROLE_LABELS[role] : 'Owner through JAMJET_ADMIN_USERS';
      return `• \`${project.name}\`: ${as}`;
    });
    if (projects.length > SHOWN) lines.push(`…and ${projects.length - SHOWN} more.`);
    return { text: `*Your projects* (${projects.length})\n${lines.join('\n')}` };
  },
});
