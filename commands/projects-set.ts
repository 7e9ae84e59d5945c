import { z } from 'zod';
import { formatDuration } from '../src/core/duration.ts';
import { setApprovalTimeout } from '../src/services/projects.ts';
import { duration, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { code } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'projects',
  verb: 'set',
  usage: 'projects set <project> approval-timeout <duration>',
  summary: 'Change a project setting: how long approval requests stay open (Member and above).',
  positionals: ['project', 'setting', 'value'],
  schema: z.object({
    project: projectName,
    setting: z.literal('approval-timeout', {
      error: (iss) => `${code(String(iss.input))} is not a setting; the one setting is approval-timeout.`,
    }),
    value: duration,
  }),
  async run(ctx, { project: name, value }) {
    const result = await setApprovalTimeout(ctx.services, ctx.actor, name, value);
    if (!result.ok) return result.error;
    return { text: `:white_check_mark: Approval requests of \`${name}\` now expire after ${formatDuration(value)}.` };
  },
});
