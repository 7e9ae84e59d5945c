import { z } from 'zod';
import { moveRule } from '../src/services/policies.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { ruleLine } from '../src/slack/views/policies.ts';
import { position } from './policy-args.ts';

export default defineCommand({
  group: 'policies',
  verb: 'move',
  usage: 'policies move <project> <rule-id> <position>',
  summary: 'Move a policy rule to another position (Member and above); 1 is checked first.',
  positionals: ['project', 'ruleId', 'position'],
  schema: z.object({ project: projectName, ruleId: z.string(), position }),
  async run(ctx, { project: name, ruleId, position: to }) {
    const result = await moveRule(ctx.services, ctx.actor, name, ruleId, to);
    if (!result.ok) return result.error;
    const { rule, from } = result.value;
    if (from === to) return { text: `Rule \`${rule.publicId}\` of \`${name}\` is already at position ${to}; nothing changed.` };
    ctx.kick?.();
    return { text: `:arrow_right: Moved in \`${name}\` from position ${from}: ${ruleLine(rule)}` };
  },
});
