/**
 * The device flow's poll of GitHub's token endpoint, as a durable job: it
 * survives a restart, and polls no faster than GitHub's `interval` (grown by
 * each `slow_down`). Each poll schedules the next as a new job, so waiting
 * is not logged as a failure.
 */
import type { Logger } from '../logger.ts';
import type { ServiceContext } from '../services/context.ts';
import { DEVICE_POLL_JOB, pollConnect, type GitHubPorts, type PollOutcome } from '../services/github-connections.ts';
import type { ChatSurface } from '../slack/surface.ts';
import { connectOutcomeMessage } from '../slack/views/github.ts';
import type { JobQueue } from './queue.ts';
import { channelScope, isPermanentRefusal, type SlackPacer } from './slack-pace.ts';

/** The DM that says how a device flow ended; its payload holds the outcome (a login at most, never a token). */
export const CONNECT_NOTICE_JOB = 'github.connect_notice';

export interface GitHubJobDeps {
  readonly services: ServiceContext;
  readonly chat: ChatSurface;
  readonly github: GitHubPorts;
  readonly log: Logger;
  /** Keeps Slack's pace per channel and honours its 429 pauses, shared with every other job. */
  readonly pacer: SlackPacer;
}

/** Registers the poll; returns a stop function that cancels the wake-up timers. */
export function registerGitHubHandlers(queue: JobQueue, deps: GitHubJobDeps): () => void {
  const { services, chat, github, log, pacer } = deps;
  const timers = new Set<NodeJS.Timeout>();

  queue.register(DEVICE_POLL_JOB, async (job) => {
    const flow = (job.payload as { flow: number }).flow;
    const outcome = await pollConnect(services, github, flow);
    if (outcome.kind === 'done') return;
    if (outcome.kind === 'wait') {
      await services.jobs.enqueue(DEVICE_POLL_JOB, { flow }, services.now() + outcome.ms);
      // Wake the queue at the interval rather than at the next JOBS_POLL_SECONDS tick.
      const timer = setTimeout(() => {
        timers.delete(timer);
        queue.kick();
      }, outcome.ms);
      timer.unref();
      timers.add(timer);
      return;
    }
    log.info('github device flow ended', { flow, outcome: outcome.kind });
    // The flow is over whatever Slack does next: the DM is a job of its own, retried until Slack takes it.
    await services.jobs.enqueue(CONNECT_NOTICE_JOB, { ...outcome }, services.now());
    queue.kick();
  });

  queue.register(CONNECT_NOTICE_JOB, async (job) => {
    const outcome = job.payload as Exclude<PollOutcome, { kind: 'done' | 'wait' }>;
    try {
      await pacer.call(job.id, channelScope(outcome.userId), () => chat.postDm(outcome.userId, connectOutcomeMessage(outcome)));
    } catch (error) {
      // A deactivated account will never take the DM: nobody is left to tell.
      if (!isPermanentRefusal(error)) throw error;
      log.warn('github connect outcome not delivered', { user: outcome.userId, outcome: outcome.kind });
    }
  });

  return () => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };
}
