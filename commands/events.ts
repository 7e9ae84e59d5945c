import { z } from 'zod';
import { LIMITS } from '../src/core/limits.ts';
import { authorize } from '../src/services/access.ts';
import { latestPolicyEvents } from '../src/services/policy-events.ts';
import { limit, page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';
import { code, escapeControls } from '../src/slack/mrkdwn.ts';
import { redact } from '../src/core/secrets.ts';
import { eventLine } from '../src/slack/views/policy-events.ts';

const decision = z
  .string()
  .transform((value, ctx) => {
    const upper = value.toUpperCase();
    if (/^[A-Z][A-Z0-9_]{0,39}$/.test(upper)) return upper;
    ctx.addIssue({ code: 'custom', message: `${code(value)} is not a decision; use one such as BLOCKED, ALLOWED, WAITING_FOR_APPROVAL or BUDGET_EXCEEDED.` });
    return z.NEVER;
  })
  .optional();

const toolGlob = z
  .string()
  .max(LIMITS.policyEventText, { error: `A tool glob has at most ${LIMITS.policyEventText} characters.` })
  .refine((g) => g.trim() !== '', { error: 'The tool glob is empty; use one such as `deploy-*`.' })
  .optional();

export default defineCommand({
  group: 'events',
  usage: 'events <project> [--decision BLOCKED] [--tool <glob>] [--limit 20] [--page N]',
  summary: 'Show the decisions the project\'s SDKs reported (blocked, allowed, waiting for approval...), newest first; `*` and `?` in the tool glob match any characters and one.',
  positionals: ['project'],
  flags: { decision: 'value', tool: 'value', limit: 'value', page: 'value' },
  schema: z.object({ project: projectName, decision, tool: toolGlob, limit: limit(100).default(20), page }),
  async run(ctx, { project: name, decision: wanted, tool, limit: count, page: n }) {
    const access = await authorize(ctx.services.db, ctx.actor, name, 'view');
    if (!access.ok) return access.error;
    const { events, total } = await latestPolicyEvents(ctx.services, access.value.project.id, { decision: wanted, tool }, count);
    const filters = [wanted ? `decision ${code(wanted)}` : '', tool ? `tool ${code(tool)}` : ''].filter(Boolean).join(', ');
    if (events.length === 0) {
      return { text: `\`${name}\` has no decisions reported by its SDKs${filters ? ` matching ${filters}` : ''}.` };
    }
    const command = [`events ${name}`, wanted ? `--decision ${wanted}` : '', tool ? `--tool "${escapeControls(redact(tool).replace(/[`"\s]/g, ''))}"` : '', count === 20 ? '' : `--limit ${count}`]
      .filter(Boolean)
      .join(' ');
    const shown = total > events.length ? `latest ${events.length} of ${total}` : `${events.length}`;
    return pageOf({
      title: `*Decisions reported in \`${name}\`*${filters ? ` (${filters})` : ''} (${shown})`,
      lines: events.map(eventLine),
      page: n,
      command,
    });
  },
});
