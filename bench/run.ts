/**
 * `npm run bench`: every benchmark against its baseline in the same run, on
 * 127.0.0.1 only, then one table on stdout and bench/results/<time>.json.
 * Progress goes to stderr so stdout holds just the table.
 * `npm run bench -- jobs startup` runs only the benchmarks named.
 */
import './lib/loopback.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { approvals } from './approvals.ts';
import { approvalsPg } from './approvals-pg.ts';
import { jobs } from './jobs.ts';
import { keyCheck } from './key-check.ts';
import { keyCheckPg } from './key-check-pg.ts';
import { cleanUpOnSignals, Cleanup } from './lib/cleanup.ts';
import { stopPostgres } from './lib/postgres.ts';
import { productErrors } from './lib/product.ts';
import { policyEvents } from './policy-events.ts';
import { revocationPg } from './revocation-pg.ts';
import { formatTable, writeResults, type BenchResult } from './lib/report.ts';
import { slackDrain } from './slack-drain.ts';
import { slashAck } from './slash-ack.ts';
import { startup } from './startup.ts';

/** In the order of docs/ARCHITECTURE.md, section 12. Each takes the run's temporary directory. */
const BENCHMARKS: [string, (dir: string) => Promise<BenchResult>][] = [
  ['key-check', keyCheck],
  ['slash-ack', slashAck],
  ['approvals', approvals],
  ['jobs', jobs],
  ['startup', startup],
  ['slack-drain', slackDrain],
  ['policy-events', policyEvents],
  // Two replicas (separate processes) on one PostgreSQL database.
  ['key-check-pg', keyCheckPg],
  ['approvals-pg', approvalsPg],
  ['revocation-pg', revocationPg],
];

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const chosen = BENCHMARKS.filter(([name]) => only.length === 0 || only.includes(name));
  if (chosen.length < only.length) {
    throw new Error(`unknown benchmark in ${only.join(', ')}; known: ${BENCHMARKS.map(([n]) => n).join(', ')}`);
  }
  cleanUpOnSignals();
  const at = new Date();
  const temp = new Cleanup();
  temp.add(stopPostgres);
  const dir = mkdtempSync(join(tmpdir(), 'jamjet-bench-'));
  temp.add(() => rmSync(dir, { recursive: true, force: true }));
  const results: BenchResult[] = [];
  try {
    for (const [name, bench] of chosen) {
      const started = Date.now();
      process.stderr.write(`${name}: running\n`);
      try {
        results.push(await bench(dir));
        process.stderr.write(`${name}: done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      } catch (error) {
        // One broken benchmark must not hide the others' figures.
        process.exitCode = 1;
        process.stderr.write(`${name}: FAILED: ${(error as Error).stack ?? String(error)}\n`);
      }
    }
  } finally {
    await temp.run();
  }
  process.stdout.write(`${formatTable(results)}\n\n`);
  process.stdout.write(`results: ${writeResults(RESULTS_DIR, at, results)}\n`);
  if (productErrors.length > 0) process.stdout.write(`product logged errors:\n${productErrors.join('\n')}\n`);
}

await main();
