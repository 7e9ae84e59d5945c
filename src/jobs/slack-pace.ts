/**
 * Slack's rate limits for the job queue (docs/ARCHITECTURE.md, section 9): posting is about
 * one message a second per channel, other methods are limited per method, and
 * a 429's Retry-After applies to every caller. Jobs ask the pacer before they
 * call Slack; a job that would be refused is told when to come back instead
 * of calling (a RetryLater, which uses up no attempt), so a burst of cards to
 * one channel drains at Slack's pace with no refused calls, and a 429 pauses
 * that channel or method for every job, in every process on the database.
 */
import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { slackErrorCode } from '../slack/surface.ts';
import { RetryLater } from './queue.ts';

/** What a Slack call is limited by: `channel:<id>` for posts, `method:<name>` otherwise. */
export type PaceScope = `channel:${string}` | `method:${string}`;

export interface PacerOptions {
  /** Milliseconds between posts to one channel; Slack allows about one a second. */
  readonly channelIntervalMs?: number;
}

/** Slack refusals that no retry can change: the work takes its fallback at once. */
export const PERMANENT_REFUSALS = new Set([
  'invalid_blocks',
  'invalid_arguments',
  'msg_too_long',
  'no_text',
  'invalid_attachments',
  'channel_not_found',
  'is_archived',
  'not_in_channel',
  'restricted_action',
  'user_disabled',
  'account_inactive',
  'user_not_found',
  'cannot_dm_bot',
  'message_not_found',
  'cant_update_message',
  'edit_window_closed',
]);

/** True when Slack refused for good (bad payload, gone channel or person): retrying changes nothing. */
export function isPermanentRefusal(error: unknown): boolean {
  return PERMANENT_REFUSALS.has(slackErrorCode(error));
}

/**
 * Per-scope pacing and pauses, shared by every process on the database: the
 * next free moment to post to each channel is taken in `slack_slots` (one
 * atomic statement per post), and pauses from a 429 are written to
 * `slack_pauses`. So two replicas posting cards to one channel together keep
 * to Slack's pace, as one process does.
 */
export class SlackPacer {
  private readonly intervalMs: number;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
    private readonly log: Logger,
    options: PacerOptions = {},
  ) {
    this.intervalMs = options.channelIntervalMs ?? 1000;
  }

  /** The end of a 429 pause on `scope`, or 0. */
  async pausedUntil(scope: PaceScope): Promise<number> {
    // Compiled once: every paced call reads it.
    const read = this.db.statement('slack-pause', (q) => q.selectFrom('slack_pauses').select('until').where('scope', '=', '?'));
    return (await read.get(scope))?.until ?? 0;
  }

  /**
   * Runs `call` for job `jobId` when `scope` allows it now; otherwise throws
   * RetryLater naming when this job's turn comes (its slot is kept for it).
   * A 429 pauses the scope for everyone until Retry-After and throws
   * RetryLater; every other failure is thrown as it came.
   */
  async call<T>(jobId: number, scope: PaceScope, call: () => Promise<T>): Promise<T> {
    const at = this.now();
    const paused = await this.pausedUntil(scope);
    const paces = scope.startsWith('channel:');
    const mine = paces ? await this.heldSlot(jobId, scope) : undefined;
    let slot: number;
    if (mine !== undefined && paused <= mine) {
      // This job was given a slot earlier: it waits for it, then uses it.
      if (at < mine) throw new RetryLater(`waiting for its turn on ${scope}`, mine - at);
      slot = mine;
    } else if (paces) {
      slot = await this.takeSlot(scope, Math.max(at, paused));
    } else {
      // Methods are not paced here, only paused.
      if (at < paused) throw new RetryLater(`waiting for its turn on ${scope}`, paused - at);
      slot = at;
    }
    if (at < slot) {
      if (slot !== mine) await this.hold(jobId, scope, slot);
      throw new RetryLater(`waiting for its turn on ${scope}`, slot - at);
    }
    if (mine !== undefined) await this.release(jobId, scope, at);
    try {
      return await call();
    } catch (error) {
      const retryAfter = (error as { retryAfter?: number }).retryAfter;
      if (typeof retryAfter !== 'number') {
        // Nothing was posted: give the slot back when nobody took one after it, so a fallback can go at once.
        if (paces) await this.giveBack(scope, slot);
        throw error;
      }
      const until = this.now() + retryAfter * 1000;
      await this.pause(scope, until);
      this.log.warn('slack rate limit: pausing', { scope, retryAfterSeconds: retryAfter });
      throw new RetryLater(`Slack rate limit on ${scope}`, retryAfter * 1000);
    }
  }

  /** Pauses `scope` until `until` for every job in every process (a later pause wins). */
  async pause(scope: PaceScope, until: number): Promise<void> {
    await this.db.run(
      this.db.q
        .insertInto('slack_pauses')
        .values({ scope, until })
        .onConflict((oc) =>
          // Portable SQL (SQLite and PostgreSQL): the later pause wins.
          oc.column('scope').doUpdateSet({ until: sql<number>`CASE WHEN excluded.until > slack_pauses.until THEN excluded.until ELSE slack_pauses.until END` }),
        ),
    );
  }

  /**
   * Takes the first free moment to post to `scope` at or after `earliest`
   * (epoch ms), in one statement every process shares: the channel's next
   * free moment moves one interval past the slot taken. Returns the slot.
   */
  private async takeSlot(scope: PaceScope, earliest: number): Promise<number> {
    const interval = this.intervalMs;
    const row = await this.db.getUncached(
      this.db.q
        .insertInto('slack_slots')
        .values({ scope, next_free: earliest + interval })
        .onConflict((oc) =>
          oc.column('scope').doUpdateSet({
            // Portable SQL: the later of the channel's next free moment and `earliest`, plus one interval.
            next_free: sql<number>`CASE WHEN slack_slots.next_free > ${earliest} THEN slack_slots.next_free + ${interval} ELSE ${earliest + interval} END`,
          }),
        )
        .returning('next_free'),
    );
    return row!.next_free - interval;
  }

  /** Hands `slot` back when it is still the last one taken on `scope` (nothing was posted in it). */
  private async giveBack(scope: PaceScope, slot: number): Promise<void> {
    await this.db.runUncached(
      this.db.q.updateTable('slack_slots').set({ next_free: slot }).where('scope', '=', scope).where('next_free', '=', slot + this.intervalMs),
    );
  }

  /** The slot job `jobId` holds on `scope`, if it was told to come back for one (by this process or another). */
  private async heldSlot(jobId: number, scope: PaceScope): Promise<number | undefined> {
    const read = this.db.statement('slack-slot-hold', (q) =>
      q.selectFrom('slack_slot_holds').select('slot').where('job_id', '=', 0).where('scope', '=', '?'),
    );
    return (await read.get(jobId, scope))?.slot;
  }

  private async hold(jobId: number, scope: PaceScope, slot: number): Promise<void> {
    await this.db.runUncached(
      this.db.q
        .insertInto('slack_slot_holds')
        .values({ job_id: jobId, scope, slot })
        .onConflict((oc) => oc.columns(['job_id', 'scope']).doUpdateSet({ slot })),
    );
  }

  /** Drops the hold just used, and holds of jobs that ended some other way (the request expired) a minute past their slot. */
  private async release(jobId: number, scope: PaceScope, at: number): Promise<void> {
    await this.db.runUncached(
      this.db.q
        .deleteFrom('slack_slot_holds')
        .where((eb) => eb.or([eb.and([eb('job_id', '=', jobId), eb('scope', '=', scope)]), eb('slot', '<', at - 60_000)])),
    );
  }
}

/** The scope a post to `channel` (a channel id, or a user id for a DM) is limited by. */
export const channelScope = (channel: string): PaceScope => `channel:${channel}`;
export const methodScope = (method: string): PaceScope => `method:${method}`;
