/**
 * Everything a benchmark starts (servers, children, databases, temporary
 * files) registers how to stop it here, so it is stopped at the end of the
 * benchmark, when it fails, and when the run is interrupted.
 */
type Step = () => unknown;

const open = new Set<Cleanup>();

export class Cleanup {
  private readonly steps: Step[] = [];

  constructor() {
    open.add(this);
  }

  /** Registers a step; steps run in reverse order of registration. */
  add(step: Step): void {
    this.steps.push(step);
  }

  /** Runs every step once, even when some fail. */
  async run(): Promise<void> {
    open.delete(this);
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step();
      } catch (error) {
        process.stderr.write(`bench cleanup step failed: ${(error as Error).message}\n`);
      }
    }
  }
}

/** Runs `body` with its own cleanup scope, closed whatever happens. */
export async function scoped<T>(body: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup();
  try {
    return await body(cleanup);
  } finally {
    await cleanup.run();
  }
}

/** On Ctrl-C or SIGTERM, stop what is still running before exiting. */
export function cleanUpOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void Promise.all([...open].map((c) => c.run())).finally(() => process.exit(130));
    });
  }
}
