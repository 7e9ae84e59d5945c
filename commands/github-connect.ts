import { z } from 'zod';
import { startConnect } from '../src/services/github-connections.ts';
import { defineCommand } from '../src/slack/command.ts';
import { dmOrRespond } from '../src/slack/delivery.ts';
import { connectRefusal, deviceCodeMessage } from '../src/slack/views/github.ts';

export default defineCommand({
  group: 'github',
  verb: 'connect',
  usage: 'github connect',
  summary: 'Connect your GitHub account (GitHub device flow), so that `github link` can check you may manage a secret.',
  positionals: [],
  schema: z.object({}),
  run(ctx) {
    if (!ctx.github.users.connectEnabled) return { code: 'forbidden', message: connectRefusal({ kind: 'disabled' }) };
    const userId = ctx.actor.userId;
    return {
      text: ':link: Asking GitHub for a one-time code; it follows by DM.',
      followUp: async (respond) => {
        const started = await startConnect(ctx.services, ctx.github, ctx.actor);
        if (started.kind !== 'started') {
          await respond({ text: `:warning: ${connectRefusal(started)}` });
          return;
        }
        await dmOrRespond(ctx, userId, deviceCodeMessage(started), respond);
      },
    };
  },
});
