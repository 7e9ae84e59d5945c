import { z } from 'zod';
import { describeSpec, unlinkTarget } from '../src/services/github-targets.ts';
import { projectName, wholeNumber } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { escape } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'github',
  verb: 'unlink',
  usage: 'github unlink <project> <target-id>',
  summary: 'Stop writing the key to a GitHub target (Admin and above); the secret itself stays on GitHub.',
  positionals: ['project', 'targetId'],
  schema: z.object({
    project: projectName,
    targetId: wholeNumber(1, Number.MAX_SAFE_INTEGER, 'The target id is the number `/jamjet github list` shows.'),
  }),
  async run(ctx, { project: name, targetId }) {
    const result = await unlinkTarget(ctx.services, ctx.actor, name, targetId);
    if (!result.ok) return result.error;
    return {
      text: `:broken_chain: \`${name}\` no longer writes to ${escape(describeSpec(result.value))}. The secret stays on GitHub; delete it there if it is no longer needed.`,
    };
  },
});
