import { z } from 'zod';
import { defineCommand, type AnyCommand } from '../src/slack/command.ts';
import { page } from '../src/slack/args.ts';
import { pageOf } from '../src/slack/limits.ts';
import { code } from '../src/slack/mrkdwn.ts';

const line = (c: AnyCommand) => `• \`/jamjet ${c.usage}\`\n    ${c.summary}`;

export default defineCommand({
  group: 'help',
  usage: 'help [group] [--page N]',
  summary: 'List every command, or the commands of one group.',
  positionals: ['group?'],
  flags: { page: 'value' },
  schema: z.object({ group: z.string().toLowerCase().optional(), page }),
  run(ctx, { group, page: n }) {
    if (group) {
      const commands = ctx.catalog.filter((c) => c.group === group);
      if (commands.length === 0) {
        const groups = [...new Set(ctx.catalog.map((c) => c.group))].join(', ');
        return { code: 'bad_input', message: `There is no command group ${code(group)}; the groups are ${groups}.` };
      }
      return pageOf({ title: `*\`/jamjet ${group}\` commands*`, lines: commands.map(line), page: n, command: `help ${group}` });
    }
    return pageOf({
      title: '*JamJet control plane*: projects, members, API keys, approvals and agent policies, from Slack.',
      lines: ctx.catalog.map(line),
      footer: ['Durations look like `30s`, `15m`, `24h`, `7d`. Roles: owner, admin, member, read_only.'],
      page: n,
      command: 'help',
    });
  },
});
