import type { Db } from '../db/database.ts';

/** Who is acting. JAMJET_ADMIN_USERS act as Owner on every project. */
export interface Actor {
  readonly userId: string;
  readonly isAdmin: boolean;
}

/** What every use case needs: the database and the time. */
export interface ServiceContext {
  readonly db: Db;
  readonly now: () => number;
}
