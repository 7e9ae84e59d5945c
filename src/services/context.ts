import type { Db } from '../db/database.ts';

/** Who is acting. JAMJET_ADMIN_USERS act as Owner on every project. */
export interface Actor {
  readonly userId: string;
  readonly isAdmin: boolean;
}

/** The part of the job queue use cases need: schedule work inside their transaction. */
export interface Scheduler {
  enqueue(kind: string, payload: Record<string, unknown>, runAt: number): Promise<number>;
  reschedule(id: number, runAt: number): Promise<void>;
}

/** What every use case needs: the database, the time and the job schedule. */
export interface ServiceContext {
  readonly db: Db;
  readonly now: () => number;
  readonly jobs: Scheduler;
}

/** The actor recorded for what the bot does by itself (expiries, reminders). */
export const SYSTEM_ACTOR = 'jamjet';
