import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RetryLater } from '../../src/jobs/queue.ts';
import { channelScope, isPermanentRefusal, methodScope, SlackPacer } from '../../src/jobs/slack-pace.ts';
import { createLogger } from '../../src/logger.ts';
import { testContext } from '../helpers/db.ts';

const silent = createLogger('error', () => {});
let ctx: Awaited<ReturnType<typeof testContext>>;

beforeEach(async () => {
  ctx = await testContext();
});
afterEach(async () => {
  await ctx.db.close();
});

/** What a call asks of the queue: 'ran', or the milliseconds to wait. */
async function attempt(pacer: SlackPacer, job: number, scope = channelScope('C1'), call: () => Promise<unknown> = async () => 'ok') {
  try {
    await pacer.call(job, scope, call);
    return 'ran';
  } catch (error) {
    if (error instanceof RetryLater) return error.retryAfterMs;
    throw error;
  }
}

const rateLimited = (seconds: number) => async () => {
  throw Object.assign(new Error('rate limited'), { code: 'slack_webapi_rate_limited_error', retryAfter: seconds });
};

describe('SlackPacer', () => {
  it('spaces posts to one channel a second apart, each job keeping the slot it was given', async () => {
    const pacer = new SlackPacer(ctx.db, ctx.now, silent);
    expect(await attempt(pacer, 1)).toBe('ran');
    expect(await attempt(pacer, 2)).toBe(1000);
    expect(await attempt(pacer, 3)).toBe(2000);
    // Another channel is not held up.
    expect(await attempt(pacer, 4, channelScope('C2'))).toBe('ran');
    ctx.advance(1000);
    expect(await attempt(pacer, 3)).toBe(1000);
    expect(await attempt(pacer, 2)).toBe('ran');
    ctx.advance(1000);
    expect(await attempt(pacer, 3)).toBe('ran');
  });

  it('pauses a channel for every job, and for another process on the same database, until Retry-After', async () => {
    const a = new SlackPacer(ctx.db, ctx.now, silent);
    const b = new SlackPacer(ctx.db, ctx.now, silent);
    expect(await attempt(a, 1, channelScope('C1'), rateLimited(30))).toBe(30_000);
    expect(await attempt(a, 2)).toBeGreaterThanOrEqual(30_000);
    // The other process's job waits too, and takes the slot after job 2's: slots are shared.
    expect(await attempt(b, 3)).toBe(31_000);
    // A shorter Retry-After later never shortens the pause.
    expect(await attempt(b, 4, methodScope('chat.update'), rateLimited(5))).toBe(5000);
    ctx.advance(31_000);
    expect(await attempt(b, 3)).toBe('ran');
  });

  it('spaces posts to one channel by two processes as one process would, one a second between them', async () => {
    const a = new SlackPacer(ctx.db, ctx.now, silent);
    const b = new SlackPacer(ctx.db, ctx.now, silent);
    const waits = [await attempt(a, 1), await attempt(b, 2), await attempt(a, 3), await attempt(b, 4), await attempt(a, 5, channelScope('C2'))];
    expect(waits).toEqual(['ran', 1000, 2000, 3000, 'ran']);
    ctx.advance(1000);
    expect(await attempt(b, 2)).toBe('ran');
    // Job 3's slot is its own: another process's new job does not take it.
    expect(await attempt(b, 6)).toBe(3000);
    ctx.advance(1000);
    expect(await attempt(a, 3)).toBe('ran');
  });

  it('gives the slot back when Slack refused the call, so a fallback goes at once', async () => {
    const pacer = new SlackPacer(ctx.db, ctx.now, silent);
    const refused = async () => {
      throw Object.assign(new Error('invalid_blocks'), { data: { error: 'invalid_blocks' } });
    };
    await expect(pacer.call(1, channelScope('C1'), refused)).rejects.toThrow('invalid_blocks');
    expect(await attempt(pacer, 1)).toBe('ran');
  });

  it('knows which refusals no retry can change', () => {
    for (const code of ['invalid_blocks', 'channel_not_found', 'is_archived', 'user_disabled', 'account_inactive']) {
      expect(isPermanentRefusal({ data: { error: code } })).toBe(true);
    }
    expect(isPermanentRefusal({ data: { error: 'internal_error' } })).toBe(false);
    expect(isPermanentRefusal(new Error('socket hang up'))).toBe(false);
  });
});
