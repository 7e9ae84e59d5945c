/** The `/jamjet` listener: acknowledge with the reply, then run any follow-up. */
import type { App } from '@slack/bolt';
import { z } from 'zod';
import { ROLE_LABELS, isRole } from '../../core/roles.ts';
import type { AnyCommand, Reply } from '../command.ts';
import type { InviteClaimer } from '../invites.ts';
import { fitMessage } from '../limits.ts';
import { CommandRouter } from '../router.ts';
import { ephemeral } from './respond.ts';
import type { ListenerDeps } from './deps.ts';

/** What a slash command payload that does not fit is told. */
export const BAD_COMMAND = 'That command reached JamJet damaged, so nothing was done; try it again.';

/** The fields of Slack's slash command payload the command reads (Slack's names). */
const SlashCommand = z.object({
  user_id: z.string().regex(/^[UW][A-Z0-9]+$/),
  channel_id: z.string().min(1).max(64),
  trigger_id: z.string().min(1).max(255),
  text: z.string().optional().default(''),
});

export function registerCommandListener(
  app: App,
  deps: ListenerDeps,
  commands: readonly AnyCommand[],
  claimer: InviteClaimer,
): void {
  const router = new CommandRouter(commands);

  app.command('/jamjet', async ({ command: payload, ack, respond }) => {
    const parsed = SlashCommand.safeParse(payload);
    if (!parsed.success) {
      deps.log.warn('malformed slash command refused', { issues: parsed.error.issues.length });
      await ack({ response_type: 'ephemeral', text: `:warning: ${BAD_COMMAND}` });
      return;
    }
    const command = parsed.data;
    const granted = await claimer.claimFor(command.user_id);
    const log = deps.log.child({ user: command.user_id });
    const reply = await router.handle(
      {
        actor: deps.actorOf(command.user_id),
        services: deps.services,
        chat: deps.surface,
        users: deps.surface,
        channels: deps.surface,
        secrets: deps.secrets,
        github: deps.github,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
        log,
        catalog: router.catalog,
        kick: deps.kick,
      },
      command.text,
    );
    const joined = granted.map(
      (g) => `You joined \`${g.project}\` as ${isRole(g.role) ? ROLE_LABELS[g.role] : g.role} (you were invited by e-mail).`,
    );
    await ack(toAck(reply, joined));
    if (reply?.followUp) {
      try {
        await deps.inHand.run(() => reply.followUp!(ephemeral(respond)));
      } catch (error) {
        log.error('command follow-up failed', { error });
        await respond({ response_type: 'ephemeral', text: ':x: Part of that command failed on our side; see `/jamjet audit` for what was done.' }).catch(() => {});
      }
    }
  });
}

function toAck(reply: Reply | null, notes: string[]) {
  if (!reply && notes.length === 0) return undefined;
  const fitted = fitMessage({ text: [...notes, reply?.text ?? ''].filter(Boolean).join('\n'), blocks: reply?.blocks });
  return {
    response_type: reply?.inChannel ? ('in_channel' as const) : ('ephemeral' as const),
    text: fitted.text,
    ...(fitted.blocks ? { blocks: fitted.blocks } : {}),
  };
}
