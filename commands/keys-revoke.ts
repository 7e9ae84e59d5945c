import { z } from 'zod';
import { revokeKey } from '../src/services/keys.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { keyLabel } from '../src/slack/views/keys.ts';

export default defineCommand({
  group: 'keys',
  verb: 'revoke',
  usage: 'keys revoke <project> <key-id>',
  summary: 'Revoke an API key at once (Admin and above); the next request with it is refused.',
  positionals: ['project', 'keyId'],
  schema: z.object({ project: projectName, keyId: z.string().toLowerCase() }),
  async run(ctx, { project: name, keyId }) {
    const result = await revokeKey(ctx.services, ctx.actor, name, keyId);
    if (!result.ok) return result.error;
    return { text: `:no_entry: Key ${keyLabel(result.value.key)} of \`${name}\` is revoked; requests with it are refused from now on.` };
  },
});
