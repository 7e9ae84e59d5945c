/**
 * jobs: one tick of the durable queue (`JobQueue.runDue()` claiming and
 * running 100 due jobs with a no-op handler) when the table holds 1,000,000
 * pending jobs (all but those 100 not yet due), against the same tick with
 * 1,000 pending. Goal: the big table's median tick at most 2 x the small one's.
 *
 * A tick writes about 200 small transactions, so every tick or two one of
 * them pays a WAL checkpoint: single tick times are bimodal and their median
 * flips between the modes from run to run. Each repetition therefore times
 * a group of ticks and keeps their mean; the median is over repetitions.
 */
import { join } from 'node:path';
import { JobQueue } from '../src/jobs/queue.ts';
import { createLogger } from '../src/logger.ts';
import { scoped } from './lib/cleanup.ts';
import type { BenchResult } from './lib/report.ts';
import { openMigrated, removeDb, seedJobs } from './lib/seed.ts';
import { median, percentile, round } from './lib/stats.ts';

const KIND = 'bench.noop';
const DUE = 100;
const TICKS_PER_REPETITION = 5;
const WARMUP_REPETITIONS = 2;
const REPETITIONS = 15;
const DAY_MS = 86_400_000;

interface Ticks {
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly seedMs: number;
}

/** Tick times with `pending` jobs in the table, `DUE` of them due at each tick. */
function measureTicks(dir: string, pending: number): Promise<Ticks> {
  return scoped(async (cleanup) => {
    const path = join(dir, `jobs-${pending}.db`);
    cleanup.add(() => removeDb(path));
    const db = await openMigrated(path);
    cleanup.add(() => db.close());
    const now = Date.now();
    const seedStarted = performance.now();
    // Not due for a day at least, spread out as real reminders and expiries are.
    seedJobs(db.sqlite, KIND, pending - DUE, (i) => now + DAY_MS + i * 1000);
    const seedMs = performance.now() - seedStarted;

    const queue = new JobQueue(db, Date.now, createLogger('error', () => {}));
    queue.register(KIND, async () => {});
    const times: number[] = [];
    for (let repetition = 0; repetition < WARMUP_REPETITIONS + REPETITIONS; repetition++) {
      let elapsed = 0;
      for (let tick = 0; tick < TICKS_PER_REPETITION; tick++) {
        // The due jobs of this tick; the table is back at `pending` pending jobs.
        seedJobs(db.sqlite, KIND, DUE, () => Date.now() - 1000);
        const started = performance.now();
        const ran = await queue.runDue();
        elapsed += performance.now() - started;
        if (ran !== DUE) throw new Error(`a tick ran ${ran} jobs, expected ${DUE}`);
      }
      if (repetition >= WARMUP_REPETITIONS) times.push(elapsed / TICKS_PER_REPETITION);
    }
    return { medianMs: round(median(times)), p99Ms: round(percentile(times, 99)), seedMs: Math.round(seedMs) };
  });
}

export async function jobs(dir: string): Promise<BenchResult> {
  const small = await measureTicks(dir, 1_000);
  const big = await measureTicks(dir, 1_000_000);
  const ratio = round(big.medianMs / small.medianMs);
  return {
    name: 'jobs',
    ratio,
    goal: 'tick(1M) <= 2 x tick(1k)',
    met: ratio <= 2,
    product: { label: 'jobs tick, 1M pending', medianMs: big.medianMs, p99Ms: big.p99Ms, rps: null, note: `${REPETITIONS} x ${TICKS_PER_REPETITION} ticks of ${DUE} due; seeded in ${(big.seedMs / 1000).toFixed(1)} s` },
    baseline: { label: 'jobs tick, 1k pending', medianMs: small.medianMs, p99Ms: small.p99Ms, rps: null },
    figures: {
      due_per_tick: DUE,
      repetitions: REPETITIONS,
      ticks_per_repetition: TICKS_PER_REPETITION,
      tick_1m_median_ms: big.medianMs,
      tick_1m_p99_ms: big.p99Ms,
      tick_1k_median_ms: small.medianMs,
      tick_1k_p99_ms: small.p99Ms,
      seed_1m_ms: big.seedMs,
    },
  };
}
