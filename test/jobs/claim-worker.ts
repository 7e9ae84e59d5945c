/**
 * A second process for the queue test: opens the database file, says
 * `ready`, waits for `go` on stdin, then claims one job at a time until none
 * is due and prints the ids it got as JSON.
 *
 *   node --import tsx test/jobs/claim-worker.ts <db-file>
 */
import { createInterface } from 'node:readline';
import { openDb } from '../../src/db/database.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';

const [file] = process.argv.slice(2);
if (!file) throw new Error('usage: claim-worker.ts <db-file>');

const db = openDb(file);
const queue = new JobQueue(db, () => Date.now(), createLogger('error', () => {}));
const lines = createInterface({ input: process.stdin });
process.stdout.write('ready\n');
for await (const line of lines) {
  if (line.trim() !== 'go') continue;
  const claimed: number[] = [];
  for (;;) {
    const jobs = await queue.claimDue(1);
    if (jobs.length === 0) break;
    claimed.push(...jobs.map((j) => j.id));
    // Let the other process in between claims, as a busy event loop would.
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  process.stdout.write(`${JSON.stringify({ worker: queue.workerId, claimed })}\n`);
  break;
}
lines.close();
await db.close();
