/**
 * Bolt runs every registered listener's matchers on every request, so a
 * dozen button and modal listeners slow down even a slash command. Buttons
 * and modals therefore register here, by id, and reach Bolt as one action
 * listener and one view listener that look the id up.
 */
import type {
  App,
  BlockAction,
  ButtonAction,
  SlackActionMiddlewareArgs,
  SlackViewMiddlewareArgs,
  ViewSubmitAction,
} from '@slack/bolt';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;
type ViewArgs = SlackViewMiddlewareArgs<ViewSubmitAction>;
export type ButtonHandler = (args: ButtonArgs) => Promise<void>;
export type ViewHandler = (args: ViewArgs) => Promise<void>;

export class Interactions {
  private readonly buttons = new Map<string, ButtonHandler>();
  private readonly views = new Map<string, ViewHandler>();

  /** A button, by its `action_id`. */
  action<T extends BlockAction<ButtonAction>>(actionId: string, handler: (args: SlackActionMiddlewareArgs<T>) => Promise<void>): void {
    this.buttons.set(actionId, handler as ButtonHandler);
  }

  /** A modal submission, by its `callback_id`. */
  view(callbackId: string, handler: ViewHandler): void {
    this.views.set(callbackId, handler);
  }

  /** Hands the registered ids to Bolt as one listener of each kind. */
  attach(app: App): void {
    const buttonIds = new RegExp(`^(${[...this.buttons.keys()].join('|')})$`);
    const viewIds = new RegExp(`^(${[...this.views.keys()].join('|')})$`);
    app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: buttonIds }, async (args) => {
      await this.buttons.get(args.action.action_id)!(args);
    });
    app.view({ type: 'view_submission', callback_id: viewIds }, async (args) => {
      await this.views.get(args.view.callback_id)!(args as ViewArgs);
    });
  }
}
