/**
 * SQLite access. Kysely builds and types the queries; better-sqlite3 runs them
 * synchronously, so a use case's transaction is one `BEGIN IMMEDIATE` block
 * that no other work can interleave with, in this process or another one on
 * the same file.
 */
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type Compilable } from 'kysely';
import type { Schema } from './schema.ts';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

const STATEMENT_CACHE_SIZE = 500;
/** Tables no `cached` read depends on, written with `runUncached`. */
const UNCACHED_TABLES: ReadonlySet<string> = new Set(['slack_requests_seen']);
/** Entries `cached` keeps at most; past that, reads simply go to the database. */
const MEMORY_SIZE = 10_000;

export class Db {
  /** Query builder; also runs the migrations. */
  readonly kysely: Kysely<Schema>;
  private readonly statements = new Map<string, Statement>();
  private readonly named = new Map<string, Statement>();
  private readonly memory = new Map<string, unknown>();
  private stamp = '';
  private dataVersion: BetterSqlite3.Statement<[], number> | undefined;

  constructor(readonly sqlite: BetterSqlite3.Database) {
    this.kysely = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
  }

  /** Shorthand for building a query. */
  get q(): Kysely<Schema> {
    return this.kysely;
  }

  /**
   * How many writing statements this connection has run. Every write of the
   * app goes through `all`, `get` or `run`, so a cache of what the database
   * says is stale as soon as this number moves (or `PRAGMA data_version`, for
   * writes by other connections).
   */
  writes = 0;

  all<R>(query: Compilable<R>): R[] {
    const { sql, parameters } = query.compile();
    return this.prepare(sql).all(...parameters) as R[];
  }

  get<R>(query: Compilable<R>): R | undefined {
    const { sql, parameters } = query.compile();
    return this.prepare(sql).get(...parameters) as R | undefined;
  }

  /** Runs a statement without result rows; returns how many rows it changed. */
  run(query: Compilable<unknown>): { changes: number; lastInsertRowid: number } {
    const { sql, parameters } = query.compile();
    const result = this.prepare(sql).run(...parameters);
    return { changes: result.changes, lastInsertRowid: Number(result.lastInsertRowid) };
  }

  /**
   * Runs a write to a table that no `cached` read ever reads (see
   * `UNCACHED_TABLES`), without forgetting what `cached` remembers: the
   * record of seen Slack requests is written on every Slack request, and
   * would otherwise empty the memory each time. Throws when the statement
   * is not a plain insert into or delete from one of those tables.
   */
  runUncached(query: Compilable<unknown>): { changes: number } {
    const { sql, parameters } = query.compile();
    const table = /^(?:insert into|delete from) "([a-z_]+)"/i.exec(sql)?.[1];
    if (!table || !UNCACHED_TABLES.has(table)) throw new Error(`runUncached is only for ${[...UNCACHED_TABLES].join(', ')}: ${sql}`);
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
      statement = this.sqlite.prepare(sql);
      this.statements.set(sql, statement);
    }
    return { changes: statement.run(...parameters).changes };
  }

  /**
   * A query built and compiled once, for hot paths where building it again
   * would cost more than running it. Build it with placeholder values; the
   * real ones are bound, in the same order, at each call.
   */
  statement<R>(name: string, build: (q: Kysely<Schema>) => Compilable<R>): BetterSqlite3.Statement<unknown[], R> {
    let statement = this.named.get(name);
    if (!statement) {
      statement = this.sqlite.prepare(build(this.kysely).compile().sql);
      // Writes must go through all/get/run, where they are counted.
      if (!statement.readonly) throw new Error(`statement ${name} writes; use run()`);
      this.named.set(name, statement);
    }
    return statement as BetterSqlite3.Statement<unknown[], R>;
  }

  /**
   * `compute()`, remembered under `key` for as long as the database is
   * unchanged: any write through this connection, or by another process on
   * the same file (`PRAGMA data_version`), forgets everything. `null` is not
   * remembered, so nobody can fill the memory with lookups that find nothing.
   * For reads on hot paths only; values must not be mutated.
   */
  cached<T>(key: string, compute: () => T): T {
    // Inside a transaction the reads may be rolled back: never remember them.
    if (this.sqlite.inTransaction) return compute();
    this.dataVersion ??= this.sqlite.prepare<[], number>('PRAGMA data_version').pluck();
    const stamp = `${this.writes}.${this.dataVersion.get()}`;
    if (stamp !== this.stamp) {
      this.memory.clear();
      this.stamp = stamp;
    }
    if (this.memory.has(key)) return this.memory.get(key) as T;
    const value = compute();
    if (value !== null && this.memory.size < MEMORY_SIZE) this.memory.set(key, value);
    return value;
  }

  /** Work to do once the outermost transaction has committed (see `afterCommit`). */
  private committed: (() => void)[] = [];

  /**
   * Runs `fn` in one immediate transaction (a savepoint when nested). When the
   * outermost one commits, what `afterCommit` queued inside it runs; what was
   * queued inside a part that rolled back is dropped.
   */
  transaction<T>(fn: () => T): T {
    const outermost = !this.sqlite.inTransaction;
    const mark = this.committed.length;
    let result: T;
    try {
      result = this.sqlite.transaction(fn).immediate();
    } catch (error) {
      this.committed.length = mark;
      throw error;
    }
    if (outermost && this.committed.length > 0) {
      const queued = this.committed;
      this.committed = [];
      for (const run of queued) run();
    }
    return result;
  }

  /**
   * Runs `fn` once what was written so far is durable: after the outermost
   * `transaction` commits, or at once outside one. For telling the world
   * about a change (a log line) only when the change really happened; `fn`
   * must not throw.
   */
  afterCommit(fn: () => void): void {
    if (this.sqlite.inTransaction) this.committed.push(fn);
    else fn();
  }

  async close(): Promise<void> {
    this.statements.clear();
    await this.kysely.destroy();
  }

  private prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
      statement = this.sqlite.prepare(sql);
      this.statements.set(sql, statement);
    }
    if (!statement.readonly) this.writes++;
    return statement;
  }
}

/** What is at `path` when it is there but is not a regular file (a folder, a device such as /dev/null, a pipe); null otherwise. */
function notAFile(path: string): string | null {
  try {
    const stat = statSync(path);
    if (stat.isFile()) return null;
    return stat.isDirectory() ? 'a folder' : 'a device, pipe or socket';
  } catch {
    return null;
  }
}

/**
 * Opens (and creates) the database file with the settings the product relies on.
 * Throws the file system's error (`code` EACCES, ENOTDIR, EEXIST...) when the
 * folder cannot be made, `code` ENOTFILE when the path holds something other
 * than a regular file (which is left as it was: never made private, never
 * written), or SQLite's (`code` SQLITE_NOTADB, SQLITE_CANTOPEN).
 */
export function openDb(path: string): Db {
  const other = path === ':memory:' ? null : notAFile(path);
  if (other) throw Object.assign(new Error(`${path} is ${other}, not a database file`), { code: 'ENOTFILE', what: other });
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const sqlite = new BetterSqlite3(path);
  try {
    // Reads the file's header: a file that is not a database fails here (SQLITE_NOTADB), untouched.
    sqlite.pragma('schema_version');
    // Key hashes, sealed deliveries and the audit trail: readable by this user only (-wal and -shm follow).
    if (path !== ':memory:') chmodSync(path, 0o600);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    // So that INSERT OR REPLACE on the audit trail fires its no-delete trigger.
    sqlite.pragma('recursive_triggers = ON');
  } catch (error) {
    sqlite.close();
    throw error;
  }
  return new Db(sqlite);
}
