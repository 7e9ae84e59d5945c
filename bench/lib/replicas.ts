/**
 * Replicas for the `-pg` benchmarks: the compiled product (`node
 * dist/src/main.js`, what `npm start` runs) started as separate processes on
 * one database, all posting to one fake Slack served by this process.
 */
import { buildProduct, freePort, startChild } from './child.ts';
import type { Cleanup } from './cleanup.ts';
import { productEnv, productErrors, startProduct, type Product } from './product.ts';
import { LOOPBACK } from './loopback.ts';

export interface Replica {
  /** `http://127.0.0.1:<port>` of this process. */
  readonly base: string;
  readonly pid: number;
}

let built = false;

/**
 * Prepares `databaseUrl` (`postgres://...` or `sqlite:<path>`) through the
 * product in this process (migrations, then `prepare` with the running app,
 * then its due jobs, so set-up's DMs are not part of what is measured), stops
 * that app, and starts `count` compiled replicas on the same database, each
 * healthy before this resolves. Every replica and the fake Slack are stopped
 * by `cleanup`. `env` is added to every replica's environment.
 */
export async function startReplicas<T>(
  cleanup: Cleanup,
  dir: string,
  name: string,
  databaseUrl: string,
  count: number,
  prepare: (setup: Product) => Promise<T>,
  env: Record<string, string> = {},
): Promise<{ slack: Product['slack']; slackUrl: string; replicas: Replica[]; prepared: T }> {
  if (!built) {
    buildProduct();
    built = true;
  }
  const setup = await startProduct(cleanup, dir, name, { DATABASE_URL: databaseUrl, ...env });
  let prepared: T;
  try {
    prepared = await prepare(setup);
    await setup.app.jobs.runDue();
  } finally {
    await setup.app.stop();
  }
  let stopping = false;
  const replicas = await Promise.all(
    Array.from({ length: count }, async () => {
      const port = await freePort();
      // BENCH_CPU_PROF=<folder>: each replica writes a V8 CPU profile there when it stops (open it in Chrome's DevTools).
      const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
      const { child } = await startChild(cleanup, dir, { ...productEnv(setup.url, '', port), DATABASE_URL: databaseUrl, ...env }, port, profile);
      // Its error lines are kept with the product's, shown at the end of the run.
      child.stderr!.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line && productErrors.length < 20) productErrors.push(`replica ${port}: ${line}`);
      });
      child.once('exit', (code, signal) => {
        if (!stopping) process.stderr.write(`replica on port ${port} exited (${signal ?? code}) before the benchmark ended\n`);
      });
      return { base: `http://${LOOPBACK}:${port}`, pid: child.pid! };
    }),
  );
  // Runs before the replicas' own stops (steps run in reverse): their exits from here on are expected.
  cleanup.add(() => {
    stopping = true;
  });
  return { slack: setup.slack, slackUrl: setup.url, replicas, prepared };
}
