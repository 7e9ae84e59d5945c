/**
 * startup: from spawning the compiled product (`node dist/src/main.js`, what
 * `npm start` runs) until `GET /healthz` answers 200, and resident memory a
 * second later, with a database holding 10,000 projects and 100,000 keys,
 * against an empty (migrated) one. Goal: start under 1 s and RSS at rest
 * under 120 MiB with the big database; the ratio shows whether start-up
 * grows with the data.
 */
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SqliteDb } from '../src/db/database.ts';
import { buildProduct, freePort, rssMiB, startChild, stopChild } from './lib/child.ts';
import { scoped, type Cleanup } from './lib/cleanup.ts';
import { startFakeSlack } from './lib/fake-slack.ts';
import { productEnv } from './lib/product.ts';
import type { BenchResult } from './lib/report.ts';
import { openMigrated, removeDb, seedProjectsAndKeys } from './lib/seed.ts';
import { median, round } from './lib/stats.ts';

const PROJECTS = 10_000;
const KEYS_PER_PROJECT = 10;
/** Starts per database, alternating, after one unmeasured start (the page cache). */
const STARTS = 5;
const AT_REST_MS = 1_000;
const GOAL_START_MS = 1_000;
const GOAL_RSS_MIB = 120;

interface Start {
  readonly ms: number;
  readonly rssMiB: number;
}

/** A migrated database, seeded by `seed`, closed so the file stands alone. */
async function template(cleanup: Cleanup, path: string, seed: (db: SqliteDb) => void): Promise<void> {
  cleanup.add(() => removeDb(path));
  const db = await openMigrated(path);
  try {
    seed(db);
  } finally {
    await db.close();
  }
}

/** One start in `dir`, on a fresh copy of `source`. */
function startOnce(dir: string, slackUrl: string, source: string): Promise<Start> {
  return scoped(async (cleanup) => {
    const copy = join(dir, 'startup-run.db');
    copyFileSync(source, copy);
    cleanup.add(() => removeDb(copy));
    const port = await freePort();
    const { child, startMs } = await startChild(cleanup, dir, productEnv(slackUrl, copy, port), port);
    await sleep(AT_REST_MS);
    const rss = rssMiB(child.pid!);
    await stopChild(child);
    return { ms: startMs, rssMiB: rss };
  });
}

export function startup(dir: string): Promise<BenchResult> {
  return scoped(async (cleanup) => {
    buildProduct();
    const fake = await startFakeSlack(cleanup);
    const empty = join(dir, 'startup-empty.db');
    const big = join(dir, 'startup-big.db');
    await template(cleanup, empty, () => {});
    await template(cleanup, big, (db) => seedProjectsAndKeys(db.sqlite, PROJECTS, KEYS_PER_PROJECT));

    await startOnce(dir, fake.url, empty);
    const emptyStarts: Start[] = [];
    const bigStarts: Start[] = [];
    for (let i = 0; i < STARTS; i++) {
      emptyStarts.push(await startOnce(dir, fake.url, empty));
      bigStarts.push(await startOnce(dir, fake.url, big));
    }
    const ms = (s: Start[]) => round(median(s.map((x) => x.ms)), 1);
    const rss = (s: Start[]) => round(median(s.map((x) => x.rssMiB)), 1);
    const ratio = round(ms(bigStarts) / ms(emptyStarts));
    return {
      name: 'startup',
      ratio,
      goal: `start < ${GOAL_START_MS / 1000} s, RSS at rest < ${GOAL_RSS_MIB} MiB`,
      met: ms(bigStarts) < GOAL_START_MS && rss(bigStarts) < GOAL_RSS_MIB,
      product: { label: `startup, ${PROJECTS / 1000}k projects/${(PROJECTS * KEYS_PER_PROJECT) / 1000}k keys`, medianMs: ms(bigStarts), p99Ms: null, rps: null, note: `RSS at rest ${rss(bigStarts)} MiB` },
      baseline: { label: 'startup, empty database', medianMs: ms(emptyStarts), p99Ms: null, rps: null, note: `RSS at rest ${rss(emptyStarts)} MiB` },
      figures: {
        starts: STARTS,
        startup_ms: ms(bigStarts),
        startup_empty_ms: ms(emptyStarts),
        rss_mib: rss(bigStarts),
        rss_empty_mib: rss(emptyStarts),
        projects: PROJECTS,
        keys: PROJECTS * KEYS_PER_PROJECT,
      },
    };
  });
}
