import { z } from 'zod';
import { defineCommand, type AnyCommand } from '../src/slack/command.ts';
import { code } from '../src/slack/mrkdwn.ts';

const line = (c: AnyCommand) => `• \`/jamjet ${c.usage}\`\n    ${c.summary}`;

export default defineCommand({
  group: 'help',
  usage: 'help [group]',
  summary: 'List every command, or the commands of one group.',
  positionals: ['group?'],
  schema: z.object({ group: z.string().toLowerCase().optional() }),
  run(ctx, { group }) {
    if (group) {
      const commands = ctx.catalog.filter((c) => c.group === group);
      if (commands.length === 0) {
        const groups = [...new Set(ctx.catalog.map((c) => c.group))].join(', ');
        return { code: 'bad_input', message: `There is no command group ${code(group)}; the groups are ${groups}.` };
      }
      return { text: `*\`/jamjet ${group}\` commands*\n${commands.map(line).join('\n')}` };
    }
    return {
      text: [
        '*JamJet control plane*: projects, members, API keys and approvals, from Slack.',
        ...ctx.catalog.map(line),
        'Durations look like `30s`, `15m`, `24h`, `7d`. Roles: owner, admin, member, read_only.',
      ].join('\n'),
    };
  },
});
