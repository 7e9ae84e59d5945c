/**
 * The tests' fake Slack, served on 127.0.0.1 for the product to call.
 * test/helpers/slack.ts imports nock, and importing nock patches node:http and
 * fetch for the whole process; the benchmarks talk to real servers, so the
 * patch is taken off again here. Bench code imports the helpers from this
 * file only.
 */
import nock from 'nock';
import { FakeSlack, type FakeSlackOptions } from '../../test/helpers/slack.ts';
import type { Cleanup } from './cleanup.ts';

nock.restore();

export { buttonPayload, buttonsIn, FakeSlack, sign, SIGNING_SECRET, slashForm, TEAM_ID } from '../../test/helpers/slack.ts';

export interface RunningFakeSlack {
  readonly slack: FakeSlack;
  /** `http://127.0.0.1:<port>`; the Web API is under `/api/`, response URLs under `/hooks/`. */
  readonly url: string;
}

/** Slack's pace (one post a second per channel, short bursts) unless `options` say otherwise. */
export async function startFakeSlack(cleanup: Cleanup, options: FakeSlackOptions = {}): Promise<RunningFakeSlack> {
  const slack = new FakeSlack(options);
  const server = await slack.listen();
  cleanup.add(() => server.close());
  return { slack, url: server.url };
}
