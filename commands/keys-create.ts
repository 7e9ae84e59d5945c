import { z } from 'zod';
import { createKey } from '../src/services/keys.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { deliverKey } from '../src/slack/delivery.ts';
import { keyLabel } from '../src/slack/views/keys.ts';

export default defineCommand({
  group: 'keys',
  verb: 'create',
  usage: 'keys create <project> [--name <label>]',
  summary: 'Create another API key (Admin and above); it comes to you by DM, to reveal once.',
  positionals: ['project'],
  flags: { name: 'value' },
  schema: z.object({
    project: projectName,
    name: z
      .string()
      .trim()
      .min(1, { error: 'The key name must not be empty.' })
      .max(60, { error: 'The key name must be at most 60 characters.' })
      .default('default'),
  }),
  async run(ctx, { project: name, name: label }) {
    const result = await createKey(ctx.services, ctx.actor, name, label);
    if (!result.ok) return result.error;
    const { key, ticket } = result.value;
    return {
      text: `:key: Key ${keyLabel(key)} created for \`${name}\`. I am sending it to you by DM, to reveal once within 15 minutes.`,
      followUp: (respond) => deliverKey(ctx, ctx.actor.userId, { project: name, key, ticket }, respond),
    };
  },
});
