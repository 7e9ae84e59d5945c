/**
 * node-cron only wakes the poller; the jobs themselves live in the database.
 * It fires every second and polls every JOBS_POLL_SECONDS, so any period
 * works, not only divisors of a minute.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../logger.ts';
import type { JobQueue } from './queue.ts';

const PRUNE_EVERY_MS = 60 * 60_000;

export class JobTicker {
  private task: ScheduledTask | null = null;
  private last = 0;
  private lastPrune = 0;

  constructor(
    private readonly queue: JobQueue,
    private readonly pollSeconds: number,
    private readonly log: Logger,
  ) {}

  /** Catches up on everything due (jobs missed while the process was down), then keeps polling. */
  async start(): Promise<void> {
    await this.poll();
    this.task = cron.schedule('* * * * * *', () => {
      if (Date.now() - this.last >= this.pollSeconds * 1000) void this.poll();
    });
  }

  async poll(): Promise<void> {
    this.last = Date.now();
    try {
      await this.queue.runDue();
      if (this.last - this.lastPrune >= PRUNE_EVERY_MS) {
        this.lastPrune = this.last;
        const pruned = await this.queue.prune();
        if (pruned > 0) this.log.info('finished jobs pruned', { pruned });
      }
    } catch (error) {
      this.log.error('job poll failed', { error });
    }
  }

  async stop(): Promise<void> {
    if (this.task) {
      await this.task.stop();
      await this.task.destroy();
    }
    this.task = null;
  }
}
