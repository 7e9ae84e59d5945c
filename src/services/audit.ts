/**
 * The append-only audit trail. Each event carries the SHA-256 of the one
 * before it, so a changed, removed or reordered event breaks the chain.
 */
import { createHash } from 'node:crypto';
import { redactValue } from '../core/secrets.ts';
import type { Selectable } from 'kysely';
import type { Db } from '../db/database.ts';
import type { AuditEventsTable } from '../db/schema.ts';
import type { ServiceContext } from './context.ts';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEventInput {
  readonly projectId: number | null;
  readonly actor: string;
  readonly action: string;
  readonly details?: Record<string, unknown>;
}

export interface AuditEvent {
  readonly id: number;
  readonly projectId: number | null;
  readonly actor: string;
  readonly action: string;
  readonly details: Record<string, unknown>;
  readonly createdAt: number;
}

function hashEvent(prevHash: string, e: { projectId: number | null; actor: string; action: string; details: string; at: number }): string {
  return createHash('sha256')
    .update(JSON.stringify([prevHash, e.projectId, e.actor, e.action, e.details, e.at]))
    .digest('hex');
}

/** An event as written, with its place in the chain: what an audit log line carries. */
export interface RecordedAuditEvent {
  readonly id: number;
  readonly projectId: number | null;
  readonly actor: string;
  readonly action: string;
  /** The details exactly as stored and hashed: JSON text, already redacted. */
  readonly details: string;
  /** Epoch ms. */
  readonly at: number;
  readonly prevHash: string;
  readonly hash: string;
}

const observers = new WeakMap<Db, (event: RecordedAuditEvent) => void>();

/**
 * Calls `observer` with each event appended through `db`, once the
 * transaction that appended it has committed (never for one rolled back).
 * One observer per database; a second call replaces the first.
 */
export function observeAuditEvents(db: Db, observer: ((event: RecordedAuditEvent) => void) | null): void {
  if (observer) observers.set(db, observer);
  else observers.delete(db);
}

/** Appends one event. Call inside the use case's transaction so the change and its record land together. */
export async function recordEvent(db: Db, at: number, input: AuditEventInput): Promise<void> {
  // Whatever a person typed (a label, a reason) that looks like a key or token is blanked, value by value.
  const details = JSON.stringify(redactValue(input.details ?? {}));
  await db.atomic(async () => {
    const last = await db.get(db.q.selectFrom('audit_events').select('hash').orderBy('id', 'desc').limit(1));
    const prevHash = last?.hash ?? GENESIS_HASH;
    const hash = hashEvent(prevHash, { projectId: input.projectId, actor: input.actor, action: input.action, details, at });
    const inserted = await db.get(
      db.q
        .insertInto('audit_events')
        .values({
          project_id: input.projectId,
          actor: input.actor,
          action: input.action,
          details,
          created_at: at,
          prev_hash: prevHash,
          hash,
        })
        .returning('id'),
    );
    const observer = observers.get(db);
    if (observer) {
      const event: RecordedAuditEvent = { id: inserted!.id, projectId: input.projectId, actor: input.actor, action: input.action, details, at, prevHash, hash };
      db.afterCommit(() => observer(event));
    }
  });
}

/** The latest events of a project, newest first. */
export async function latestEvents(ctx: ServiceContext, projectId: number, limit: number): Promise<AuditEvent[]> {
  const rows = await ctx.db.all(
    ctx.db.q
      .selectFrom('audit_events')
      .selectAll()
      .where('project_id', '=', projectId)
      .orderBy('id', 'desc')
      .limit(limit),
  );
  return rows.map((r) => ({
    id: r.id,
    projectId: r.project_id,
    actor: r.actor,
    action: r.action,
    details: JSON.parse(r.details) as Record<string, unknown>,
    createdAt: r.created_at,
  }));
}

type EventRow = Selectable<AuditEventsTable>;

const VERIFY_BATCH = 5_000;

/** Whether `r` is the event that follows a chain ending in `prev`. */
const follows = (prev: string, r: EventRow) =>
  r.prev_hash === prev &&
  r.hash === hashEvent(prev, { projectId: r.project_id, actor: r.actor, action: r.action, details: r.details, at: r.created_at });

/**
 * Walks the chain in batches, yielding to the event loop between them so a
 * long trail never stalls requests. Resolves to the id of the first event
 * that does not match, or null when the chain is intact.
 */
export async function verifyChain(db: Db, batch = VERIFY_BATCH): Promise<{ brokenAt: number | null; checked: number }> {
  const page = async (after: number, limit: number) =>
    await db.all(db.q.selectFrom('audit_events').selectAll().where('id', '>', after).orderBy('id').limit(limit));
  let prev = GENESIS_HASH;
  let after = 0;
  let checked = 0;
  for (;;) {
    const rows = await page(after, batch);
    for (const r of rows) {
      if (!follows(prev, r)) return { brokenAt: r.id, checked };
      prev = r.hash;
      after = r.id;
      checked++;
    }
    if (rows.length < batch) return { brokenAt: null, checked };
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The same, resolving to just the id of the first broken event (null when intact). */
export async function findBrokenLink(db: Db): Promise<number | null> {
  return (await verifyChain(db)).brokenAt;
}

/** What is wrong with a broken event, for the operator reading `audit:verify`. */
export interface ChainBreak {
  readonly id: number;
  readonly action: string;
  readonly actor: string;
  readonly projectId: number | null;
  /** Epoch milliseconds, as stored. */
  readonly createdAt: number;
  /**
   * `changed`: the event's own hash no longer matches its contents;
   * `does_not_follow`: its contents match, but it does not continue the event
   * before it (an event before it was removed, or it was inserted).
   */
  readonly reason: 'changed' | 'does_not_follow';
}

/** Describes event `id`, found broken by `verifyChain`. Throws when there is no such event. */
export async function describeBreak(db: Db, id: number): Promise<ChainBreak> {
  const row = await db.get(db.q.selectFrom('audit_events').selectAll().where('id', '=', id));
  if (!row) throw new Error(`audit event ${id} does not exist`);
  const own = hashEvent(row.prev_hash, { projectId: row.project_id, actor: row.actor, action: row.action, details: row.details, at: row.created_at });
  return {
    id: row.id,
    action: row.action,
    actor: row.actor,
    projectId: row.project_id,
    createdAt: row.created_at,
    reason: own === row.hash ? 'does_not_follow' : 'changed',
  };
}
