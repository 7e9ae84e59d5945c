import type { RespondFn } from '@slack/bolt';
import type { Responder } from '../command.ts';

/**
 * Replies only the person who acted sees, through Slack's response_url,
 * leaving the message they acted on as it is.
 */
export function ephemeral(respond: RespondFn): Responder {
  return async (message) => {
    await respond({ response_type: 'ephemeral', replace_original: false, text: message.text, blocks: message.blocks });
  };
}
