import { z } from 'zod';
import { latestEvents } from '../src/services/audit.ts';
import { authorize } from '../src/services/access.ts';
import { limit, page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { redactValue } from '../src/core/secrets.ts';
import { pageOf } from '../src/slack/limits.ts';
import { code, date, escapeControls, mention } from '../src/slack/mrkdwn.ts';

const actor = (id: string) => (/^[UW][A-Z0-9]+$/.test(id) ? mention(id) : code(id));

/** An event's details as `key=value` pairs, redacted value by value before anything is serialised. */
function describe(details: Record<string, unknown>): string {
  const parts = Object.entries(redactValue(details))
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return escapeControls(parts.join(' '));
}

export default defineCommand({
  group: 'audit',
  usage: 'audit <project> [--limit 20] [--page N]',
  summary: 'Show the latest audit events of a project, newest first.',
  positionals: ['project'],
  flags: { limit: 'value', page: 'value' },
  schema: z.object({ project: projectName, limit: limit(100).default(20), page }),
  async run(ctx, { project: name, limit: count, page: n }) {
    const access = await authorize(ctx.services.db, ctx.actor, name, 'view');
    if (!access.ok) return access.error;
    const events = await latestEvents(ctx.services, access.value.project.id, count);
    const lines = events.map(
      (e) => `• ${date(e.createdAt)} ${actor(e.actor)} \`${e.action}\` ${describe(e.details)}`.trimEnd(),
    );
    const command = count === 20 ? `audit ${name}` : `audit ${name} --limit ${count}`;
    return pageOf({ title: `*Audit trail of \`${name}\`* (latest ${events.length})`, lines, page: n, command });
  },
});
