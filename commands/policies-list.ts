import { z } from 'zod';
import { listRules } from '../src/services/policies.ts';
import { page, projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { pageOf } from '../src/slack/limits.ts';
import { ruleLine } from '../src/slack/views/policies.ts';

export default defineCommand({
  group: 'policies',
  verb: 'list',
  usage: 'policies list <project> [--page N]',
  summary: 'List the policy rules of a project in the order JamJet SDKs check them; the first match decides.',
  positionals: ['project'],
  flags: { page: 'value' },
  schema: z.object({ project: projectName, page }),
  async run(ctx, { project: name, page: n }) {
    const result = await listRules(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { rules } = result.value;
    if (rules.length === 0) {
      return {
        text: `\`${name}\` has no policy rules, so JamJet SDKs allow every tool. Add one with \`/jamjet policies add ${name} block <tool-glob>\`.`,
      };
    }
    return pageOf({
      title: `*Policy rules of \`${name}\`* (${rules.length}; checked in order, the first match decides, no match allows)`,
      lines: rules.map(ruleLine),
      page: n,
      command: `policies list ${name}`,
    });
  },
});
