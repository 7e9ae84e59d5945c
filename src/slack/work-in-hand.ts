/**
 * Work a listener goes on with after Slack has its answer (a command's
 * follow-up: DMs, GitHub writes). Stopping the app waits for it, so a
 * follow-up never runs against a closed database or lands in the next run.
 */
export class WorkInHand {
  private readonly running = new Set<Promise<unknown>>();

  /** Runs `work` and remembers it until it settles; its result or failure is the caller's. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const promise = work();
    this.running.add(promise);
    const forget = () => this.running.delete(promise);
    promise.then(forget, forget);
    return promise;
  }

  /** Resolves once everything started so far has settled (failures included). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
