/**
 * The database boundary: the `Db` interface every use case reads and writes
 * through, and its SQLite engine (the embedded default). The PostgreSQL
 * engine, for several replicas, is in `postgres.ts`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type Compilable } from 'kysely';
import type { Schema } from './schema.ts';

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

const STATEMENT_CACHE_SIZE = 500;
/** Tables no `cached` read depends on, written with `runUncached`. */
export const UNCACHED_TABLES: ReadonlySet<string> = new Set(['slack_requests_seen', 'api_rate_buckets', 'slack_slots', 'slack_slot_holds', 'policy_events']);
/** Entries `cached` keeps at most; past that, reads simply go to the database. */
export const MEMORY_SIZE = 10_000;

/** Which database a `Db` talks to. */
export type Engine = 'sqlite' | 'postgres';

/** A query compiled once (see `Db.statement`); the values are bound in placeholder order. */
export interface Prepared<R> {
  get(...values: unknown[]): Promise<R | undefined>;
  all(...values: unknown[]): Promise<R[]>;
}

/**
 * The one way the product reads and writes its data, whichever engine holds
 * it. Kysely builds and types the queries (`q`); the engine runs them.
 *
 * Transactions: `transaction(fn)` runs `fn` with every `Db` call it makes
 * (awaited or not, however deep) inside one transaction, found through the
 * async context, so use cases keep calling `db.get(...)` as they would
 * outside one. Write transactions are serialised: on SQLite by
 * `BEGIN IMMEDIATE` on the one connection (calls from other async contexts
 * wait for the transaction to end, so they never see or join its work), on
 * PostgreSQL by a transaction-scoped advisory lock taken at its start, so a
 * use case's reads and writes behave the same on both. Keep network calls
 * out of `fn`: while it runs, nobody else writes.
 */
export interface Db {
  readonly engine: Engine;
  /** Query builder; also runs the migrations. Queries built here are run with `all`, `get`, `run`. */
  readonly kysely: Kysely<Schema>;
  /** Shorthand for `kysely`. */
  readonly q: Kysely<Schema>;
  /** The rows a query returns. */
  all<R>(query: Compilable<R>): Promise<R[]>;
  /** The first row a query returns, or undefined. */
  get<R>(query: Compilable<R>): Promise<R | undefined>;
  /** Runs a statement for its effect; `changes` is how many rows it inserted, updated or deleted. Use `returning(...)` with `get` for generated ids. */
  run(query: Compilable<unknown>): Promise<{ changes: number }>;
  /**
   * Runs a write to a table that no `cached` read ever reads (see
   * `UNCACHED_TABLES`), without forgetting what `cached` remembers. Throws
   * when the statement is not a plain insert into, update of or delete from one of them.
   */
  runUncached(query: Compilable<unknown>): Promise<{ changes: number }>;
  /**
   * Like `runUncached`, for a write whose `returning(...)` row the caller
   * needs (an `INSERT ... ON CONFLICT ... DO UPDATE ... RETURNING` into one of
   * `UNCACHED_TABLES`): the first row it returns, or undefined. Throws on the
   * same statements `runUncached` refuses.
   */
  getUncached<R>(query: Compilable<R>): Promise<R | undefined>;
  /**
   * A read built and compiled once, for hot paths where building it again
   * would cost more than running it. Build it with placeholder values; the
   * real ones are bound, in the same order, at each call. Throws on a write.
   */
  statement<R>(name: string, build: (q: Kysely<Schema>) => Compilable<R>): Prepared<R>;
  /**
   * `compute()`, remembered under `key` for as long as the data is unchanged:
   * any write through this `Db`, or by another process on the same database,
   * forgets everything. `null` is not remembered, nor anything read inside a
   * transaction, nor a value a write overtook while it was being read. For
   * hot-path reads only; values must not be mutated.
   */
  cached<T>(key: string, compute: () => Promise<T>): Promise<T>;
  /** Runs `fn` in one transaction (a savepoint when nested); see above. Rolls back and rethrows when `fn` throws. */
  transaction<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Runs `fn` inside the caller's transaction when there is one (as part of
   * it, with no savepoint of its own: a failure fails the caller's whole
   * transaction), else in a transaction of its own. For a step that must be
   * atomic but is usually one part of a use case (an audit append): a
   * savepoint would cost PostgreSQL two more round trips under the lock.
   */
  atomic<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Runs `fn` once what was written so far is durable: after the outermost
   * `transaction` commits (dropped if it rolls back), or at once outside one.
   * For telling the world about a change (a log line); `fn` must not throw.
   */
  afterCommit(fn: () => void): void;
  /**
   * Plain SQL with `?` placeholders, for scripts, benchmarks and tests that
   * need what the query builder does not say; returns the rows (none for a
   * write). Product code uses the builder.
   */
  raw<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<R[]>;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Which transaction an async context is inside, for both engines. An
 * AsyncLocalStorage, switched on only while a transaction of this database
 * runs: on Node.js 20 an enabled AsyncLocalStorage installs async hooks that
 * make every promise of the process about 2.5 times slower, and the hot
 * paths (key checks, slash commands) run outside transactions. Contexts
 * that outlive their transaction (a promise it left running) see none.
 */
export class TransactionScopes<S> {
  private readonly storage = new AsyncLocalStorage<S>();
  private open = 0;

  /** The scope of the calling context's transaction, if one is running. */
  get(): S | undefined {
    return this.open > 0 ? this.storage.getStore() : undefined;
  }

  /** Runs `fn` with `scope` as its context's transaction; the storage is switched off again when no transaction runs. */
  async run<T>(scope: S, fn: () => Promise<T>): Promise<T> {
    this.open++;
    try {
      return await this.storage.run(scope, fn);
    } finally {
      if (--this.open === 0) this.storage.disable();
    }
  }
}

/** The transaction an async context is inside, and what to run once it commits. */
interface Scope {
  depth: number;
  committed: (() => void)[];
  ended: Promise<void>;
}

/**
 * Why compiled `sql` may not go through `runUncached`/`getUncached`: an Error
 * unless it is an INSERT, UPDATE or DELETE on one of `UNCACHED_TABLES`
 * (as Kysely compiles them, table name quoted), else null.
 */
export function uncachedRefusal(sql: string): Error | null {
  const table = /^(?:insert into|delete from|update) "([a-z_]+)"/i.exec(sql)?.[1];
  return table && UNCACHED_TABLES.has(table) ? null : new Error(`runUncached is only for ${[...UNCACHED_TABLES].join(', ')}: ${sql}`);
}

/**
 * SQLite through better-sqlite3: one connection, statements run
 * synchronously, a use case's transaction is one `BEGIN IMMEDIATE` block
 * that no other work interleaves with, in this process (other async contexts
 * wait for it) or another one on the same file (SQLite's write lock, waited
 * for up to `busy_timeout`).
 */
export class SqliteDb implements Db {
  readonly engine = 'sqlite' as const;
  readonly kysely: Kysely<Schema>;
  private readonly statements = new Map<string, Statement>();
  private readonly named = new Map<string, Statement>();
  private readonly memory = new Map<string, unknown>();
  private readonly scopes = new TransactionScopes<Scope>();
  /** The transaction that holds the connection, if any. */
  private holder: Scope | null = null;
  private stamp = '';
  private dataVersion: BetterSqlite3.Statement<[], number> | undefined;
  private totalChanges: BetterSqlite3.Statement<[], number> | undefined;
  /** Rows `runUncached` changed: they move `total_changes()` but no cached read depends on them. */
  private uncachedChanges = 0;

  constructor(readonly sqlite: BetterSqlite3.Database) {
    this.kysely = new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) });
  }

  get q(): Kysely<Schema> {
    return this.kysely;
  }

  all<R>(query: Compilable<R>): Promise<R[]> {
    const { sql, parameters } = query.compile();
    return this.when(() => this.prepare(sql).all(...parameters) as R[]);
  }

  get<R>(query: Compilable<R>): Promise<R | undefined> {
    const { sql, parameters } = query.compile();
    return this.when(() => this.prepare(sql).get(...parameters) as R | undefined);
  }

  run(query: Compilable<unknown>): Promise<{ changes: number }> {
    const { sql, parameters } = query.compile();
    return this.when(() => ({ changes: this.prepare(sql).run(...parameters).changes }));
  }

  runUncached(query: Compilable<unknown>): Promise<{ changes: number }> {
    return this.uncached(query, (statement, parameters) => ({ changes: statement.run(...parameters).changes }));
  }

  getUncached<R>(query: Compilable<R>): Promise<R | undefined> {
    // A RETURNING statement makes all its changes at its first step, which `get` takes.
    return this.uncached(query, (statement, parameters) => statement.get(...parameters) as R | undefined);
  }

  statement<R>(name: string, build: (q: Kysely<Schema>) => Compilable<R>): Prepared<R> {
    let statement = this.named.get(name);
    if (!statement) {
      statement = this.sqlite.prepare(build(this.kysely).compile().sql);
      // Writes must go through all/get/run, where they are counted.
      if (!statement.readonly) throw new Error(`statement ${name} writes; use run()`);
      this.named.set(name, statement);
    }
    const ready = statement;
    return {
      get: (...values) => this.when(() => ready.get(...values) as R | undefined),
      all: (...values) => this.when(() => ready.all(...values) as R[]),
    };
  }

  async cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    // Inside a transaction the reads may be rolled back: never remember them.
    if (this.holder && this.scopes.get() === this.holder) return compute();
    const before = await this.when(() => this.currentStamp());
    if (before !== this.stamp) {
      this.memory.clear();
      this.stamp = before;
    }
    if (this.memory.has(key)) return this.memory.get(key) as T;
    const value = await compute();
    // A write that landed while computing may have made the value stale already.
    if (value !== null && this.memory.size < MEMORY_SIZE && this.stamp === before && this.currentStamp() === before) this.memory.set(key, value);
    return value;
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const current = this.scopes.get();
    if (current && current === this.holder) return this.savepoint(current, fn);
    while (this.holder) await this.holder.ended;
    let end!: () => void;
    const scope: Scope = { depth: 0, committed: [], ended: new Promise<void>((resolve) => (end = resolve)) };
    this.holder = scope;
    try {
      this.sqlite.exec('BEGIN IMMEDIATE');
      let result: T;
      try {
        result = await this.scopes.run(scope, fn);
        this.sqlite.exec('COMMIT');
      } catch (error) {
        // SQLite may already have rolled back on its own (a full disk, an interrupt).
        if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
        throw error;
      }
      for (const done of scope.committed) done();
      return result;
    } finally {
      this.holder = null;
      end();
    }
  }

  atomic<T>(fn: () => Promise<T>): Promise<T> {
    return this.holder && this.scopes.get() === this.holder ? fn() : this.transaction(fn);
  }

  afterCommit(fn: () => void): void {
    const scope = this.scopes.get();
    if (scope && scope === this.holder) scope.committed.push(fn);
    else fn();
  }

  raw<R = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<R[]> {
    return this.when(() => {
      const statement = this.prepare(text);
      if (statement.reader) return statement.all(...values) as R[];
      statement.run(...values);
      return [];
    });
  }

  ping(): Promise<void> {
    return this.when(() => {
      this.sqlite.prepare('SELECT 1').get();
    });
  }

  async close(): Promise<void> {
    while (this.holder) await this.holder.ended;
    this.statements.clear();
    this.named.clear();
    await this.kysely.destroy();
  }

  /**
   * Runs `work` with the prepared statement of `query` once it is known to
   * write only one of `UNCACHED_TABLES`, and keeps the rows it changed out of
   * the stamp `cached` compares.
   */
  private uncached<T>(query: Compilable<unknown>, work: (statement: Statement, parameters: readonly unknown[]) => T): Promise<T> {
    const { sql, parameters } = query.compile();
    const refused = uncachedRefusal(sql);
    if (refused) return Promise.reject(refused);
    return this.when(() => {
      this.totalChanges ??= this.sqlite.prepare<[], number>('SELECT total_changes()').pluck();
      const before = this.totalChanges.get()!;
      try {
        return work(this.prepare(sql), parameters);
      } finally {
        this.uncachedChanges += this.totalChanges.get()! - before;
      }
    });
  }

  private async savepoint<T>(scope: Scope, fn: () => Promise<T>): Promise<T> {
    const name = `sp${++scope.depth}`;
    const mark = scope.committed.length;
    this.sqlite.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn();
      this.sqlite.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      scope.committed.length = mark;
      if (this.sqlite.inTransaction) this.sqlite.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
      throw error;
    } finally {
      scope.depth--;
    }
  }

  /**
   * Runs `work` on the connection once no transaction of another async
   * context holds it: at once (the usual case), or after that transaction.
   */
  private when<T>(work: () => T): Promise<T> {
    if (this.holder && this.scopes.get() !== this.holder) return this.holder.ended.then(() => this.when(work));
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * What changes whenever the data may have: SQLite's own counts, so that no
   * write can slip past. `total_changes()` moves with every row this
   * connection inserts, updates or deletes (less those of `runUncached` and `getUncached`);
   * `PRAGMA data_version` with every commit by another connection.
   */
  private currentStamp(): string {
    this.dataVersion ??= this.sqlite.prepare<[], number>('PRAGMA data_version').pluck();
    this.totalChanges ??= this.sqlite.prepare<[], number>('SELECT total_changes()').pluck();
    return `${this.totalChanges.get()! - this.uncachedChanges}.${this.dataVersion.get()}`;
  }

  private prepare(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.clear();
      statement = this.sqlite.prepare(sql);
      this.statements.set(sql, statement);
    }
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
export function openDb(path: string): SqliteDb {
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
  return new SqliteDb(sqlite);
}
