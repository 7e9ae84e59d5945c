/**
 * *Approve* and *Reject* on approval cards (in a channel, a DM or App Home).
 * The role is checked at the press; the first decision wins and the card is
 * edited by the refresh job, once.
 */
import type { BlockAction, ButtonAction, RespondFn } from '@slack/bolt';
import { checkCanDecide, decidedSentence, decideApproval } from '../../services/approvals.ts';
import { APPROVAL_ACTIONS, REASON_BLOCK, REASON_INPUT, REJECT_CALLBACK, rejectModal } from '../views/approvals.ts';
import type { ListenerDeps } from './deps.ts';
import { ephemeral } from './respond.ts';
import type { Interactions } from './dispatch.ts';

export function registerApprovalListeners(app: Interactions, deps: ListenerDeps, refreshHome: (userId: string, notice?: string) => Promise<void>): void {
  const { services } = deps;

  /** Tells the presser: ephemerally under a message, or as a notice on App Home. */
  const tell = async (body: BlockAction, respond: RespondFn, text: string) => {
    if (body.container?.type === 'view' || !body.response_url) await refreshHome(body.user.id, text);
    else await ephemeral(respond)({ text });
  };

  app.action<BlockAction<ButtonAction>>(APPROVAL_ACTIONS.approve, async ({ ack, body, action, respond }) => {
    await ack();
    const result = decideApproval(services, deps.actorOf(body.user.id), action.value ?? '', 'approved', null);
    if (!result.ok) return void (await tell(body, respond, `:warning: ${result.error.message}`));
    deps.kick();
    if (body.container?.type === 'view') await refreshHome(body.user.id, ':white_check_mark: Approved.');
  });

  app.action<BlockAction<ButtonAction>>(APPROVAL_ACTIONS.reject, async ({ ack, body, action, respond }) => {
    await ack();
    const allowed = checkCanDecide(services, deps.actorOf(body.user.id), action.value ?? '');
    if (!allowed.ok) return void (await tell(body, respond, `:warning: ${allowed.error.message}`));
    const { approval, project } = allowed.value;
    if (approval.status !== 'pending') return void (await tell(body, respond, `:warning: ${decidedSentence(approval)}`));
    await deps.surface.openModal(body.trigger_id, rejectModal(approval, project.name));
  });

  app.view(REJECT_CALLBACK, async ({ ack, body, view }) => {
    const { approval: id } = JSON.parse(view.private_metadata) as { approval: string };
    const reason = view.state.values[REASON_BLOCK]?.[REASON_INPUT]?.value?.trim() || null;
    const result = decideApproval(services, deps.actorOf(body.user.id), id, 'rejected', reason);
    if (!result.ok) {
      await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: result.error.message.replace(/<@(\w+)>/g, '$1') } });
      return;
    }
    await ack();
    deps.kick();
  });
}
