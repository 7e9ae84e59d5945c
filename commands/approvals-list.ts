import { z } from 'zod';
import { redact } from '../src/core/secrets.ts';
import { listPending } from '../src/services/approvals.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { date, escape } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'approvals',
  verb: 'list',
  usage: 'approvals list <project>',
  summary: 'List the pending approval requests of a project.',
  positionals: ['project'],
  schema: z.object({ project: projectName }),
  run(ctx, { project: name }) {
    const result = listPending(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { approvals } = result.value;
    if (approvals.length === 0) return { text: `\`${name}\` has no pending approval requests.` };
    const lines = approvals.map(
      (a) => `• \`${a.id}\` ${escape(redact(a.action).slice(0, 150))}: asked ${date(a.createdAt)}, expires ${date(a.expiresAt)}`,
    );
    return { text: `*Pending approvals of \`${name}\`* (${approvals.length})\n${lines.join('\n')}` };
  },
});
