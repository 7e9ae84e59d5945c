/**
 * The baseline of slash-ack: the smallest Bolt app that acknowledges
 * `/jamjet`, wired like the product (HTTPReceiver's listener on a node:http
 * server), so the ratio shows what the product adds to Bolt's own cost.
 */
import { createServer } from 'node:http';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';
import type { Cleanup } from './cleanup.ts';
import { SIGNING_SECRET } from './fake-slack.ts';
import { serveOnLoopback } from './loopback.ts';

/** Starts it; returns its base URL. `slackUrl` is the fake Slack, should Bolt call the Web API. */
export async function startBoltBaseline(cleanup: Cleanup, slackUrl: string): Promise<string> {
  const receiver = new HTTPReceiver({ signingSecret: SIGNING_SECRET, endpoints: ['/slack/events'], logLevel: LogLevel.ERROR });
  const app = new App({
    token: 'xoxb-bench',
    botId: 'BBOT',
    botUserId: 'UBOT',
    tokenVerificationEnabled: false,
    receiver,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: `${slackUrl}/api/` },
  });
  app.command('/jamjet', async ({ ack }) => ack());
  const server = createServer(receiver.requestListener);
  return serveOnLoopback(server, cleanup);
}
