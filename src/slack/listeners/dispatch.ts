/**
 * Bolt runs every registered listener's matchers on every request, so a
 * dozen button and modal listeners slow down even a slash command. Buttons
 * and modals therefore register here, by id, and reach Bolt as one action
 * listener and one view listener that look the id up.
 *
 * Every payload field a handler reads is parsed here first, with the
 * handler's zod schema: a button's `value`, a modal's `private_metadata`
 * (JSON) and `state.values`, and the presser's ids. Payloads come from
 * whoever can post to `/slack/events` with a valid signature, from buttons
 * posted long ago, or from Slack's own changes: a payload that does not fit
 * is acknowledged with one sentence (ephemerally for a button, in the modal
 * for a submission) and changes nothing; a handler never sees it.
 */
import type {
  App,
  BlockAction,
  ButtonAction,
  SlackActionMiddlewareArgs,
  SlackViewMiddlewareArgs,
  ViewSubmitAction,
} from '@slack/bolt';
import type { View } from '@slack/web-api';
import { z } from 'zod';
import type { Logger } from '../../logger.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;
type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction>;
export type ButtonHandler<T = unknown> = (args: ButtonArgs, value: T) => Promise<void>;
export type ViewHandler<T = unknown> = (args: ViewArgs, input: T) => Promise<void>;

/** What a damaged or foreign button press is told. */
export const BAD_BUTTON = 'This button is damaged or out of date, so nothing was done; run the command again for a fresh one.';
/** What a damaged or foreign modal submission is told. */
export const BAD_FORM = 'This form is damaged or out of date, so nothing was done; close it and run the command again.';

/** The fields of a button press every handler relies on (Slack's names). */
const Press = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  trigger_id: z.string().min(1).max(255),
  response_url: z.url().optional(),
  container: z.object({ type: z.string() }).optional(),
});
const Button = z.object({ type: z.literal('button'), action_id: z.string(), value: z.string().max(2000).optional() });

/** The fields of a modal submission every handler relies on. */
const Submission = z.object({
  user: z.object({ id: z.string().regex(/^[UW][A-Z0-9]+$/) }),
  view: z.object({
    callback_id: z.string(),
    private_metadata: z.string().max(3000).optional(),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.unknown())) }),
  }),
});

/** What a modal handler's schema reads: the metadata, parsed from JSON (undefined when it is not JSON), and the inputs. */
export interface ViewInput {
  readonly metadata: unknown;
  readonly values: Record<string, Record<string, unknown>>;
}

const parseJson = (text: string | undefined): unknown => {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** A plain_text_input's value in `state.values[block][action]`: its text (trimmed), or null when empty. */
export const textInput = (block: string, action: string, max: number) =>
  z
    .record(z.string(), z.record(z.string(), z.unknown()))
    .transform((values) => values[block]?.[action])
    .pipe(
      z
        .object({ type: z.literal('plain_text_input'), value: z.string().max(max).nullish() })
        .optional()
        .transform((input) => input?.value?.trim() || null),
    );

/** A positive database row id written into a button's value or a modal's metadata. */
export const rowId = z.union([z.number(), z.string().regex(/^\d{1,15}$/).transform(Number)]).pipe(z.number().int().positive().max(Number.MAX_SAFE_INTEGER));

/** A one-sentence modal, for answering a submission in place. */
export function noticeModal(title: string, text: string): View {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: title.slice(0, 24) },
    close: { type: 'plain_text', text: 'Close' },
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }],
  };
}

export class Interactions {
  private readonly buttons = new Map<string, { value: z.ZodType; handler: ButtonHandler }>();
  private readonly views = new Map<string, { input: z.ZodType; handler: ViewHandler }>();

  constructor(private readonly log: Logger) {}

  /** A button, by its `action_id`; `value` parses the button's value (a string, or undefined when it has none). */
  action<T>(actionId: string, value: z.ZodType<T>, handler: ButtonHandler<T>): void {
    this.buttons.set(actionId, { value, handler: handler as ButtonHandler });
  }

  /** A modal submission, by its `callback_id`; `input` parses a `ViewInput`. */
  view<T>(callbackId: string, input: z.ZodType<T>, handler: ViewHandler<T>): void {
    this.views.set(callbackId, { input, handler: handler as ViewHandler });
  }

  /**
   * Hands every button press and every modal submission to Bolt as one
   * listener of each kind. Ids that are not registered (a button from an
   * older version of the app, a forged id) are answered here too, with the
   * sentence, instead of being left for Slack to time out on.
   */
  attach(app: App): void {
    app.action<BlockAction<ButtonAction>>({ type: 'block_actions' }, (args) => this.press(args));
    app.view({ type: 'view_submission' }, (args) => this.submit(args as ViewArgs));
  }

  private async press(args: ButtonArgs): Promise<void> {
    // A link button (`url`) only opens its page; Slack still tells the app, which has nothing to do.
    if (typeof (args.action as { url?: unknown }).url === 'string') return void (await args.ack());
    const registered = this.buttons.get(args.action.action_id);
    const press = Press.safeParse(args.body);
    const button = Button.safeParse(args.action);
    const value = button.success && registered ? registered.value.safeParse(button.data.value) : null;
    if (!registered || !press.success || !button.success || !value?.success) {
      await args.ack();
      this.log.warn('malformed button press refused', { action: args.action.action_id });
      if (press.success && press.data.response_url) {
        await args
          .respond({ response_type: 'ephemeral', replace_original: false, text: `:warning: ${BAD_BUTTON}` })
          .catch((error: unknown) => this.log.warn('could not answer a malformed button press', { error }));
      }
      return;
    }
    await registered.handler(args, value.data);
  }

  private async submit(args: ViewArgs): Promise<void> {
    let acked = false;
    const ack = args.ack;
    const guarded = { ...args, ack: (async (response?: Parameters<typeof ack>[0]) => {
      acked = true;
      await ack(response);
    }) as typeof ack };
    const registered = this.views.get(args.view.callback_id);
    const submission = Submission.safeParse(args.body);
    const input = submission.success && registered
      ? registered.input.safeParse({ metadata: parseJson(submission.data.view.private_metadata), values: submission.data.view.state.values })
      : null;
    if (!registered || !input?.success) {
      this.log.warn('malformed modal submission refused', { callback: args.view.callback_id });
      await ack({ response_action: 'update', view: noticeModal('Nothing was done', `:warning: ${BAD_FORM}`) });
      return;
    }
    try {
      await registered.handler(guarded, input.data);
    } catch (error) {
      // The modal would otherwise hang until Slack gives up on it.
      if (!acked) await ack({ response_action: 'update', view: noticeModal('Something went wrong', ':x: That failed on our side; nothing more was done. Try again in a moment.') });
      throw error;
    }
  }
}
