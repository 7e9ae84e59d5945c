import { z } from 'zod';
import { disconnect } from '../src/services/github-connections.ts';
import { defineCommand } from '../src/slack/command.ts';
import { escape } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'github',
  verb: 'disconnect',
  usage: 'github disconnect',
  summary: 'Forget your GitHub connection and its token. Targets you linked stay linked.',
  positionals: [],
  schema: z.object({}),
  async run(ctx) {
    const { connection: forgotten, cancelledCode } = await disconnect(ctx.services, ctx.actor);
    const code = cancelledCode ? ' The code from your last `/jamjet github connect` no longer connects anything.' : '';
    if (!forgotten) return { text: `Your Slack account is not connected to GitHub; there is nothing to forget.${code}` };
    return {
      text: `:broken_chain: Disconnected GitHub login *${escape(forgotten.login)}*: the bot no longer holds your token. Targets you linked stay linked. To revoke the token on GitHub too, remove the app under Settings → Applications there.${code}`,
    };
  },
});
