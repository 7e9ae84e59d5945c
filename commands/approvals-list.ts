import { z } from 'zod';
import { redact } from '../src/core/secrets.ts';
import { listPending } from '../src/services/approvals.ts';
import { page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf, truncate } from '../src/slack/limits.ts';
import { date, escape } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'approvals',
  verb: 'list',
  usage: 'approvals list <project> [--page N]',
  summary: 'List the pending approval requests of a project.',
  positionals: ['project'],
  flags: { page: 'value' },
  schema: z.object({ project: projectName, page }),
  async run(ctx, { project: name, page: n }) {
    const result = await listPending(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { approvals } = result.value;
    if (approvals.length === 0) return { text: `\`${name}\` has no pending approval requests.` };
    const lines = approvals.map(
      (a) =>
        `• \`${a.id}\` ${truncate(escape(redact(a.action)).replace(/\s+/g, ' '), 300)}: asked ${date(a.createdAt)}, expires ${date(a.expiresAt)}` +
        (a.approvalsRequired > 1 ? `, approvals ${a.approvals.length} of ${a.approvalsRequired}` : ''),
    );
    return pageOf({ title: `*Pending approvals of \`${name}\`* (${approvals.length})`, lines, page: n, command: `approvals list ${name}` });
  },
});
