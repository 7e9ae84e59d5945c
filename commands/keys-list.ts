import { z } from 'zod';
import { listKeys } from '../src/services/keys.ts';
import { page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';
import { date, escape, mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'keys',
  verb: 'list',
  usage: 'keys list <project> [--page N]',
  summary: 'List the API keys of a project: name, id, display form, creator, last use and state.',
  positionals: ['project'],
  flags: { page: 'value' },
  schema: z.object({ project: projectName, page }),
  async run(ctx, { project: name, page: n }) {
    const result = await listKeys(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { keys } = result.value;
    if (keys.length === 0) return { text: `\`${name}\` has no API keys. Create one with \`/jamjet keys create ${name}\`.` };
    const lines = keys.map((k) => {
      const state = k.revokedAt !== null ? `:no_entry: revoked ${date(k.revokedAt)}` : ':large_green_circle: active';
      const used = k.lastUsedAt !== null ? `last used ${date(k.lastUsedAt)}` : 'never used';
      return `• *${escape(k.name)}* \`${k.publicId}\` \`${k.display}\`: ${state}; created by ${mention(k.createdBy)} ${date(k.createdAt)}; ${used}`;
    });
    const active = keys.filter((k) => k.revokedAt === null).length;
    return pageOf({ title: `*API keys of \`${name}\`* (${active} active)`, lines, page: n, command: `keys list ${name}` });
  },
});
