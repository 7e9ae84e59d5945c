/**
 * *Approve* and *Reject* on approval cards (in a channel, a DM or App Home).
 * The role is checked at the press; an Approve counts towards the request's
 * quorum (the press that reaches it decides), a Reject decides at once; the
 * card is edited by the refresh job.
 */
import type { BlockAction, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { approvalsMissing, checkCanDecide, decidedSentence, decideApproval, plural } from '../../services/approvals.ts';
import { APPROVAL_ACTIONS, REASON_BLOCK, REASON_INPUT, REJECT_CALLBACK, rejectModal } from '../views/approvals.ts';
import { code } from '../mrkdwn.ts';
import { slackErrorCode } from '../surface.ts';
import type { ListenerDeps } from './deps.ts';
import { ephemeral } from './respond.ts';
import { textInput, type Interactions } from './dispatch.ts';

/** An approval request's id, as the SDK API writes it: `apr_` and 24 hex digits. */
const approvalId = z.string().regex(/^apr_[0-9a-f]{24}$/);
/** The reject modal: the request in its metadata, and an optional reason. */
const RejectForm = z.object({ metadata: z.object({ approval: approvalId }), values: textInput(REASON_BLOCK, REASON_INPUT, 500) });

export function registerApprovalListeners(app: Interactions, deps: ListenerDeps, refreshHome: (userId: string, notice?: string) => Promise<void>): void {
  const { services } = deps;

  /** Tells the presser: ephemerally under a message, or as a notice on App Home. */
  const tell = async (body: BlockAction, respond: RespondFn, text: string) => {
    if (body.container?.type === 'view' || !body.response_url) await refreshHome(body.user.id, text);
    else await ephemeral(respond)({ text });
  };

  app.action(APPROVAL_ACTIONS.approve, approvalId, async ({ ack, body, respond }, id) => {
    await ack();
    const result = await decideApproval(services, deps.actorOf(body.user.id), id, 'approved', null);
    if (!result.ok) return void (await tell(body, respond, `:warning: ${result.error.message}`));
    deps.kick();
    const approval = result.value;
    if (approval.status === 'pending') {
      // A vote towards the quorum: the card shows the count once the refresh job edits it.
      const text = `:ballot_box_with_check: Your approval is counted (${approval.approvals.length} of ${approval.approvalsRequired}); it needs ${plural(approvalsMissing(approval), 'more approval')}.`;
      return void (await tell(body, respond, text));
    }
    if (body.container?.type === 'view') await refreshHome(body.user.id, ':white_check_mark: Approved.');
  });

  app.action(APPROVAL_ACTIONS.reject, approvalId, async ({ ack, body, respond }, id) => {
    await ack();
    const allowed = await checkCanDecide(services, deps.actorOf(body.user.id), id);
    if (!allowed.ok) return void (await tell(body, respond, `:warning: ${allowed.error.message}`));
    const { approval, project } = allowed.value;
    if (approval.status !== 'pending') return void (await tell(body, respond, `:warning: ${decidedSentence(approval)}`));
    try {
      await deps.surface.openModal(body.trigger_id, rejectModal(approval, project.name));
    } catch (error) {
      // Without the window nothing happens where they pressed: say so, so they press again.
      deps.log.warn('reject window not opened', { approval: id, error });
      await tell(body, respond, `:warning: Slack could not open the reject window (${code(slackErrorCode(error))}); the request is still pending, press *Reject* again.`);
    }
  });

  app.view(REJECT_CALLBACK, RejectForm, async ({ ack, body }, { metadata: { approval: id }, values: reason }) => {
    const result = await decideApproval(services, deps.actorOf(body.user.id), id, 'rejected', reason);
    if (!result.ok) {
      await ack({ response_action: 'errors', errors: { [REASON_BLOCK]: result.error.message.replace(/<@(\w+)>/g, '$1') } });
      return;
    }
    await ack();
    deps.kick();
  });
}
