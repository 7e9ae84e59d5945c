/**
 * The approvals rate limit as an SDK meets it when a load balancer spreads
 * its calls over two replicas of the bot on one database: one bucket per
 * key, not one per replica.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { freshDatabaseUrl, TEST_ENGINE } from '../helpers/engine.ts';
import { BOT_USER, FakeSlack } from '../helpers/slack.ts';
import { reveal, run } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const CHANNEL = 'C0APPROVALS';

let apps: TestApp[] = [];
let folder: string | undefined;
afterEach(async () => {
  for (const app of apps.reverse()) await app.stop();
  apps = [];
  if (folder) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

async function create(t: TestApp, key: string, action: string): Promise<{ status: number; retryAfter: string | null }> {
  const res = await fetch(`http://127.0.0.1:${t.port}/v1/approvals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

describe('the approvals rate limit behind a load balancer', () => {
  it('is one bucket per key however the calls are spread over two replicas', async () => {
    folder = mkdtempSync(join(tmpdir(), 'jamjet-rate-e2e-'));
    const url = TEST_ENGINE === 'sqlite' ? `sqlite:${join(folder, 'jamjet.db')}` : await freshDatabaseUrl();
    const clock = { now: Date.now() };
    const slack = new FakeSlack().addUser({ id: OWNER, email: 'owner@acme.test' }).addChannel({ id: CHANNEL, members: [BOT_USER, OWNER] });
    const options = { slack, now: () => clock.now, env: { DATABASE_URL: url, JOBS_POLL_SECONDS: '3600' } };
    const a = await startTestApp(options);
    apps.push(a);
    await run(a, OWNER, 'projects create payments');
    const key = await reveal(a, OWNER);
    await run(a, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
    const b = await startTestApp(options);
    apps.push(b);

    // 30 calls at once, alternating between the replicas: each alone would grant 20.
    const first = await Promise.all(Array.from({ length: 30 }, (_, i) => create(i % 2 === 0 ? a : b, key, `step ${i}`)));
    expect(first.filter((r) => r.status === 201)).toHaveLength(20);
    const refused = first.filter((r) => r.status === 429);
    expect(refused).toHaveLength(10);
    expect(refused.every((r) => r.retryAfter === '1')).toBe(true);

    // A second later, 5 tokens are back, wherever they are spent.
    clock.now += 1_000;
    const later = await Promise.all(Array.from({ length: 8 }, (_, i) => create(i % 2 === 0 ? b : a, key, `later ${i}`)));
    expect(later.filter((r) => r.status === 201)).toHaveLength(5);
    expect(later.filter((r) => r.status === 429)).toHaveLength(3);
  });
});
