import { z } from 'zod';
import { removeRule } from '../src/services/policies.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { ruleLine } from '../src/slack/views/policies.ts';

export default defineCommand({
  group: 'policies',
  verb: 'remove',
  usage: 'policies remove <project> <rule-id>',
  summary: 'Remove a policy rule (Member and above); the rules after it move up one.',
  positionals: ['project', 'ruleId'],
  schema: z.object({ project: projectName, ruleId: z.string() }),
  async run(ctx, { project: name, ruleId }) {
    const result = await removeRule(ctx.services, ctx.actor, name, ruleId);
    if (!result.ok) return result.error;
    ctx.kick?.();
    return { text: `:wastebasket: Removed from \`${name}\`: ${ruleLine(result.value.rule)}` };
  },
});
