import type { RespondFn } from '@slack/bolt';
import type { Responder } from '../command.ts';
import { fitMessage } from '../limits.ts';

/**
 * Replies only the person who acted sees, through Slack's response_url,
 * leaving the message they acted on as it is.
 */
export function ephemeral(respond: RespondFn): Responder {
  return async (message) => {
    const fitted = fitMessage(message);
    await respond({ response_type: 'ephemeral', replace_original: false, text: fitted.text, blocks: fitted.blocks });
  };
}
