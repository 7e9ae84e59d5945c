import { vi } from 'vitest';
import type { TestApp } from './app.ts';

/**
 * Lets the announcements of settings changes (`projects.announce_setting`
 * jobs) go: they are posted to the approvals channel at Slack's pace, a post
 * a second on the app's clock, like cards. Runs due jobs on every replica,
 * moving `clock` (the test's clock, epoch ms) to each waiting one's turn,
 * until none is left, so a card the test creates next is not kept waiting
 * for a second a frozen test clock never reaches.
 */
export async function settingsAnnounced(t: TestApp, clock: { now: number }): Promise<void> {
  await vi.waitFor(async () => {
    await t.runDue();
    const left = await t.app.db.raw<{ at: number }>("SELECT run_at AS at FROM jobs WHERE kind = 'projects.announce_setting' AND status NOT IN ('done', 'dead')");
    if (left.length === 0) return;
    clock.now = Math.max(clock.now, ...left.map((j) => Number(j.at)));
    throw new Error(`${left.length} settings announcements waiting`);
  }, { timeout: 5000, interval: 20 });
}
