/**
 * Decisions reported by JamJet SDKs (`POST /v1/policy-audit/events`,
 * docs/ARCHITECTURE.md section 8): kept with the key's project, listed by
 * `/jamjet events`, and the blocked and over-budget ones announced in the
 * project's approvals channel, a burst at a time, by a durable job.
 *
 * The table is written on every push and read by no cached value: its
 * writes go through `runUncached`, so a push never makes the process forget
 * its cached key checks (on SQLite the stamp, on PostgreSQL no trigger).
 */
import { sql } from 'kysely';
import { LIMITS } from '../core/limits.ts';
import { globMatches } from '../core/policies.ts';
import { cardDestinations } from './approvals.ts';
import type { ServiceContext } from './context.ts';
import type { KeyIdentity } from './key-auth.ts';

/** The job that announces a project's new blocked and over-budget decisions; payload `{"project": <projects.id>}`. */
export const POLICY_ANNOUNCE_JOB = 'policy_events.announce';
/** How long the first decision of a burst waits for the rest before the announcement goes (ms). */
export const ANNOUNCE_DELAY_MS = 5_000;
/** The least time between two announcements of one project (ms): a steady stream of decisions is told once a minute. */
export const ANNOUNCE_SPACING_MS = 60_000;
/** Decisions announced in the approvals channel. */
export const ANNOUNCED_DECISIONS: ReadonlySet<string> = new Set(['BLOCKED', 'BUDGET_EXCEEDED']);
/** Pruning a project down to its bound runs about once per this many events received. */
const PRUNE_EVERY = 100;

/**
 * One decision as an SDK reports it, already checked, redacted and bounded
 * (src/api/policy-events.ts). Field names and meanings are the SDK's wire
 * format (the TypeScript SDK's `AuditWriter`, the Python SDK's cloud pusher).
 */
export interface PolicyEventInput {
  readonly ts: string;
  readonly runId: string;
  readonly adapter: string;
  readonly host: string;
  readonly tool: string;
  /** `ALLOWED`, `BLOCKED`, `WAITING_FOR_APPROVAL`, `APPROVED`, `REJECTED`, `BUDGET_EXCEEDED`, `AUDIT`, `ERROR`, or another upper-case word. */
  readonly decision: string;
  readonly executed: boolean;
  readonly schemaVersion: number;
  readonly rule: string | null;
  readonly ruleKind: string | null;
  readonly traceId: string | null;
  readonly decisionId: string | null;
  readonly server: string | null;
  readonly policyVersion: string | null;
  /** Redacted `args` as JSON text, or null when none were sent. */
  readonly args: string | null;
}

/** A kept decision, as `/jamjet events` shows it. `receivedAt` is epoch ms. */
export interface PolicyEvent {
  readonly id: number;
  readonly ts: string;
  readonly adapter: string;
  readonly host: string;
  readonly tool: string;
  readonly decision: string;
  readonly executed: boolean;
  readonly rule: string | null;
  readonly ruleKind: string | null;
  readonly runId: string;
  readonly receivedAt: number;
}

/**
 * Keeps `events` (at least one) with the project of `key`, in one insert,
 * and, when one of them is to be announced and the project has an approvals
 * channel, makes sure an announcement job is waiting (one per burst: none is
 * added while one is pending). Returns how many were kept, and whether a job
 * was added (the caller wakes the queue so it runs on time). Rejects when
 * the database fails.
 */
export async function recordPolicyEvents(
  ctx: ServiceContext,
  key: KeyIdentity,
  events: readonly PolicyEventInput[],
): Promise<{ accepted: number; scheduled: boolean }> {
  const { db } = ctx;
  const at = ctx.now();
  const announcing = events.some((e) => ANNOUNCED_DECISIONS.has(e.decision));
  const channel = announcing
    ? (await db.get(db.q.selectFrom('projects').select('approvals_channel').where('id', '=', key.projectId)))?.approvals_channel ?? null
    : null;
  const first = await db.getUncached(
    db.q
      .insertInto('policy_events')
      .values(
        events.map((e) => ({
          project_id: key.projectId,
          key_id: key.keyId,
          ts: e.ts,
          run_id: e.runId,
          adapter: e.adapter,
          host: e.host,
          tool: e.tool,
          decision: e.decision,
          executed: e.executed ? 1 : 0,
          schema_version: e.schemaVersion,
          rule: e.rule,
          rule_kind: e.ruleKind,
          trace_id: e.traceId,
          decision_id: e.decisionId,
          server: e.server,
          policy_version: e.policyVersion,
          args: e.args,
          received_at: at,
          announce: channel !== null && ANNOUNCED_DECISIONS.has(e.decision) ? 1 : 0,
        })),
      )
      .returning('id'),
  );
  const firstId = first?.id ?? 0;
  if (Math.floor(firstId / PRUNE_EVERY) !== Math.floor((firstId + events.length) / PRUNE_EVERY)) await prune(ctx, key.projectId);
  // After the insert: a job seen pending here has not yet taken its events, so it takes these too.
  const scheduled = channel !== null && (await ensureAnnouncement(ctx, key.projectId));
  return { accepted: events.length, scheduled };
}

/** Deletes the project's decisions older than its newest `LIMITS.policyEventsPerProject`. */
async function prune(ctx: ServiceContext, projectId: number): Promise<void> {
  const { db } = ctx;
  await db.runUncached(
    db.q
      .deleteFrom('policy_events')
      .where('project_id', '=', projectId)
      .where('id', '<', (eb) =>
        eb
          .selectFrom('policy_events')
          .select('id')
          .where('project_id', '=', projectId)
          .orderBy('id', 'desc')
          .limit(1)
          .offset(LIMITS.policyEventsPerProject - 1),
      ),
  );
}

/**
 * Adds the project's announcement job unless one is already pending; true
 * when it added one. It runs `ANNOUNCE_DELAY_MS` ahead, and no sooner than
 * `ANNOUNCE_SPACING_MS` after the project's last announcement: an agent
 * stopped again and again (a loop retrying a blocked tool) is told in one
 * message a minute, not one every few seconds that buries the approval cards.
 */
async function ensureAnnouncement(ctx: ServiceContext, projectId: number): Promise<boolean> {
  const { db } = ctx;
  const payload = JSON.stringify({ project: projectId });
  const pending = await db.get(
    db.q.selectFrom('jobs').select('id').where('kind', '=', POLICY_ANNOUNCE_JOB).where('status', '=', 'pending').where('payload', '=', payload).limit(1),
  );
  if (pending) return false;
  const last = await db.get(
    db.q
      .selectFrom('policy_events')
      .select((eb) => eb.fn.max('announced_at').as('at'))
      .where('project_id', '=', projectId)
      .where('announce', '=', 1),
  );
  const lastAt = last?.at === null || last?.at === undefined ? null : Number(last.at);
  const due = Math.max(ctx.now() + ANNOUNCE_DELAY_MS, lastAt === null ? 0 : lastAt + ANNOUNCE_SPACING_MS);
  await ctx.jobs.enqueue(POLICY_ANNOUNCE_JOB, { project: projectId }, due);
  return true;
}

/** What one announcement says: counts per tool and decision, the latest few, and the total. */
export interface AnnouncementSummary {
  readonly total: number;
  /** Most frequent first; at most `groupLimit`. */
  readonly groups: readonly { tool: string; decision: string; count: number }[];
  /** How many (tool, decision) pairs there are in all. */
  readonly groupCount: number;
  /** Newest first; at most `latestLimit`. */
  readonly latest: readonly PolicyEvent[];
}

/**
 * Takes the project's decisions still to announce for job `jobId` (those no
 * other job took, plus those it took on an earlier attempt that Slack did not
 * take), and summarises them; null when there are none. Run by one job at a
 * time (the queue's lease), so two jobs of one project never take the same
 * decision.
 */
export async function takeAnnouncement(ctx: ServiceContext, projectId: number, jobId: number, groupLimit = 8, latestLimit = 5): Promise<AnnouncementSummary | null> {
  const { db } = ctx;
  await db.runUncached(
    db.q
      .updateTable('policy_events')
      .set({ announce_job: jobId })
      .where('project_id', '=', projectId)
      .where('announce', '=', 1)
      .where('announced_at', 'is', null)
      .where('announce_job', 'is', null),
  );
  const mine = db.q
    .selectFrom('policy_events')
    .where('project_id', '=', projectId)
    .where('announce', '=', 1)
    .where('announced_at', 'is', null)
    .where('announce_job', '=', jobId);
  const groups = await db.all(
    mine
      .select(['tool', 'decision', (eb) => eb.fn.countAll<number>().as('count')])
      .groupBy(['tool', 'decision'])
      .orderBy(sql`count(*)`, 'desc')
      .orderBy('tool')
      .orderBy('decision'),
  );
  if (groups.length === 0) return null;
  const latest = await db.all(mine.selectAll().orderBy('id', 'desc').limit(latestLimit));
  return {
    total: groups.reduce((sum, g) => sum + Number(g.count), 0),
    groups: groups.slice(0, groupLimit).map((g) => ({ tool: g.tool, decision: g.decision, count: Number(g.count) })),
    groupCount: groups.length,
    latest: latest.map(toEvent),
  };
}

/** Marks the decisions job `jobId` took as announced (Slack took the message, or it never will). */
export async function markAnnounced(ctx: ServiceContext, projectId: number, jobId: number): Promise<void> {
  const { db } = ctx;
  await db.runUncached(
    db.q
      .updateTable('policy_events')
      .set({ announced_at: ctx.now() })
      .where('project_id', '=', projectId)
      .where('announce_job', '=', jobId)
      .where('announced_at', 'is', null),
  );
}

/** The job that tells one Owner that a project's blocked decisions no longer reach its approvals channel; payload `RefusalNotice`. */
export const REFUSAL_DM_JOB = 'policy_events.refusal_dm';

/** Why an announcement of decisions could not go, told to one Owner (the payload of `REFUSAL_DM_JOB`). */
export interface RefusalNotice {
  /** projects.id */
  readonly project: number;
  /** The Owner's Slack user id. */
  readonly owner: string;
  /** The approvals channel the announcement was for. */
  readonly channel: string;
  /** Slack's error code for a refusal for good (`is_archived`, `not_in_channel`...), or null: the channel is shared with another organisation. */
  readonly error: string | null;
}

/**
 * Tells the Owners of project `projectId` (the longest-standing, at most
 * `MAX_CARD_DMS`) that announcements of its decisions no longer reach
 * `channel`: once per project until its approvals channel is set again or
 * Slack takes an announcement there again (`rearmRefusalNotice`). One
 * guarded UPDATE of `projects.decisions_refusal_told_at`, in the transaction
 * that queues one DM job per Owner, decides "once", so later bursts, retries
 * and a second replica queue nothing. Returns how many DMs were queued (0:
 * told already, or the channel changed meanwhile, or the project deleted).
 */
export async function tellOwnersOfRefusal(ctx: ServiceContext, projectId: number, channel: string, error: string | null): Promise<number> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const { changes } = await db.run(
      db.q
        .updateTable('projects')
        .set({ decisions_refusal_told_at: ctx.now() })
        .where('id', '=', projectId)
        .where('approvals_channel', '=', channel)
        .where('deleted_at', 'is', null)
        .where('decisions_refusal_told_at', 'is', null),
    );
    if (changes === 0) return 0;
    const { owners } = await cardDestinations(db, projectId);
    for (const owner of owners) {
      const notice: RefusalNotice = { project: projectId, owner, channel, error };
      await ctx.jobs.enqueue(REFUSAL_DM_JOB, { ...notice }, ctx.now());
    }
    return owners.length;
  });
}

/**
 * Slack took an announcement of project `projectId`'s decisions in `channel`
 * at `postedAt` (epoch ms) again (the bot invited back, the channel
 * unarchived or no longer shared): the Owners told that announcements
 * stopped are told again when they stop again. One UPDATE, a no-op unless
 * they were told about this channel before that post; a refusal another
 * replica met after it (and told) stays told.
 */
export async function rearmRefusalNotice(ctx: ServiceContext, projectId: number, channel: string, postedAt: number): Promise<void> {
  const { db } = ctx;
  await db.run(
    db.q
      .updateTable('projects')
      .set({ decisions_refusal_told_at: null })
      .where('id', '=', projectId)
      .where('approvals_channel', '=', channel)
      .where('decisions_refusal_told_at', '<', postedAt),
  );
}

/** Whether project `projectId`'s Owners stand told that its decisions no longer reach its channel (not re-armed since). */
export async function refusalNoticeStands(ctx: ServiceContext, projectId: number): Promise<boolean> {
  const row = await ctx.db.get(ctx.db.q.selectFrom('projects').select('decisions_refusal_told_at').where('id', '=', projectId));
  return row?.decisions_refusal_told_at != null;
}

/** Filters of `/jamjet events`: an upper-case decision, a tool glob (`*`, `?`). */
export interface EventFilter {
  readonly decision?: string;
  readonly tool?: string;
}

/** The SQL LIKE pattern of a tool glob: `*` any characters, `?` one, everything else literal (escaped with `\`). */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%').replace(/\?/g, '_');
}

/** The columns an event line shows (never the args). */
const eventColumns = ['id', 'ts', 'adapter', 'host', 'tool', 'decision', 'executed', 'rule', 'rule_kind', 'run_id', 'received_at'] as const;

/**
 * The project's newest decisions that match `filter`, at most `limit`, newest
 * first, and how many match in all. The tool glob is matched case-sensitively
 * on both engines, with fnmatch's `*` and `?` (`globMatches`: time grows with
 * glob × name, never exponentially, whatever glob a person types and whatever
 * tool names an agent sent). Only the columns a line shows are read, never
 * the args.
 */
export async function latestPolicyEvents(ctx: ServiceContext, projectId: number, filter: EventFilter, limit: number): Promise<{ events: PolicyEvent[]; total: number }> {
  const { db } = ctx;
  let query = db.q.selectFrom('policy_events').where('project_id', '=', projectId);
  if (filter.decision) query = query.where('decision', '=', filter.decision);
  if (!filter.tool) {
    const rows = await db.all(query.select([...eventColumns]).orderBy('id', 'desc').limit(limit));
    const total = Number((await db.get(query.select((eb) => eb.fn.countAll<number>().as('n'))))!.n);
    return { events: rows.map(toEvent), total };
  }
  const glob = filter.tool;
  // SQLite's LIKE ignores ASCII case; exactness comes from comparing again below.
  query = query.where(sql<boolean>`tool LIKE ${globToLike(glob)} ESCAPE '\\'`);
  const rows = await db.all(query.select([...eventColumns]).orderBy('id', 'desc').limit(LIMITS.policyEventsPerProject));
  const matching = rows.filter((r) => globMatches(glob, r.tool));
  return { events: matching.slice(0, limit).map(toEvent), total: matching.length };
}

function toEvent(row: {
  id: number;
  ts: string;
  adapter: string;
  host: string;
  tool: string;
  decision: string;
  executed: number;
  rule: string | null;
  rule_kind: string | null;
  run_id: string;
  received_at: number;
}): PolicyEvent {
  return {
    id: row.id,
    ts: row.ts,
    adapter: row.adapter,
    host: row.host,
    tool: row.tool,
    decision: row.decision,
    executed: row.executed === 1,
    rule: row.rule,
    ruleKind: row.rule_kind,
    runId: row.run_id,
    receivedAt: row.received_at,
  };
}
