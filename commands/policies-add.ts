import { z } from 'zod';
import { addRule } from '../src/services/policies.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { ruleLine } from '../src/slack/views/policies.ts';
import { policyAction, position } from './policy-args.ts';

export default defineCommand({
  group: 'policies',
  verb: 'add',
  usage: 'policies add <project> <block|allow|require_approval> <tool-glob> [--position N]',
  summary:
    'Add a policy rule over tool names (`*` any run of characters, `?` one), last or at position N (Member and above); JamJet SDKs enforce it from their next sync.',
  positionals: ['project', 'action', 'pattern'],
  flags: { position: 'value' },
  schema: z.object({ project: projectName, action: policyAction, pattern: z.string(), position: position.optional() }),
  async run(ctx, { project: name, action, pattern, position: at }) {
    const result = await addRule(ctx.services, ctx.actor, name, action, pattern, at);
    if (!result.ok) return result.error;
    ctx.kick?.();
    return { text: `:white_check_mark: Added to \`${name}\`: ${ruleLine(result.value.rule)}` };
  },
});
