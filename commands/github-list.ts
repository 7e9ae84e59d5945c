import { z } from 'zod';
import { describeSpec, listTargets } from '../src/services/github-targets.ts';
import { page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';
import { date, escape, mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'github',
  verb: 'list',
  usage: 'github list <project> [--page N]',
  summary: 'List the GitHub Actions secrets a project writes its key to.',
  positionals: ['project'],
  flags: { page: 'value' },
  schema: z.object({ project: projectName, page }),
  async run(ctx, { project: name, page: n }) {
    const result = await listTargets(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { targets } = result.value;
    if (targets.length === 0) {
      return { text: `\`${name}\` writes to no GitHub secrets. Link one with \`/jamjet github link ${name} owner/repo\`.` };
    }
    const lines = targets.map((t) => {
      const paused = t.pausedAt === null ? '' : ` :double_vertical_bar: paused ${date(t.pausedAt)}: ${mention(t.createdBy)} is no longer Admin or Owner; link it again to resume`;
      return `• ${t.id}: ${escape(describeSpec(t))}, linked by ${mention(t.createdBy)} ${date(t.createdAt)}${paused}`;
    });
    return pageOf({ title: `*GitHub targets of \`${name}\`* (${targets.length})`, lines, page: n, command: `github list ${name}` });
  },
});
