/**
 * The PostgreSQL engine of `Db`, for several replicas on one database: a
 * `pg` pool, write transactions serialised across replicas by an advisory
 * lock, and `cached` values forgotten on every replica through LISTEN/NOTIFY
 * (migration 010 announces every committed change).
 */
import { Kysely, PostgresDialect, type Compilable } from 'kysely';
import pg from 'pg';
import { CHANGES_CHANNEL } from '../../migrations/engine.ts';
import { MEMORY_SIZE, TransactionScopes, uncachedRefusal, type Db, type Prepared } from './database.ts';
import type { Schema } from './schema.ts';

/**
 * The key of the transaction-scoped advisory lock every transaction takes
 * first (`pg_advisory_xact_lock`), on every replica: the same role as
 * SQLite's BEGIN IMMEDIATE. Any constant works as long as nothing else on the
 * database uses it; this one spells "jamjet" in ASCII.
 */
export const TRANSACTION_LOCK = 0x6a616d6a6574;
/** First wait before connecting the change listener again after it dropped; doubles up to `LISTEN_RETRY_MAX_MS`. */
export const LISTEN_RETRY_FIRST_MS = 50;
export const LISTEN_RETRY_MAX_MS = 5_000;
/**
 * How often the change listener checks its connection with `SELECT 1`, and
 * how long it waits for the answer: a connection that died silently (a
 * network partition sends no FIN) is given up within about 3 s, and with it
 * everything remembered, instead of waiting for TCP's own timeouts while
 * changes go unheard.
 */
export const LISTEN_HEARTBEAT_MS = 1_000;
export const LISTEN_HEARTBEAT_TIMEOUT_MS = 2_000;
/** How long opening a connection may take before it counts as failed. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** Where the engine reports what goes wrong outside any caller's request (a pino logger fits). */
export interface PostgresLog {
  warn(details: Record<string, unknown>, message: string): void;
}

/** The transaction an async context is inside: its connection, and what to run once it commits. */
interface Scope {
  client: pg.PoolClient;
  depth: number;
  committed: (() => void)[];
  /** Whether a statement of it changed rows (then its commit counts as this process's write). */
  wrote: boolean;
  /** False once COMMIT or ROLLBACK was sent: late calls of its async context go to the pool. */
  open: boolean;
}

/**
 * Row values as SQLite gives them, so use cases see the same shapes on both
 * engines: `bigint` (ids, epoch milliseconds, `count(*)`) and `numeric`
 * (`sum` of bigints) as JavaScript numbers (exact up to 2^53 - 1, which every
 * id and millisecond here is), booleans (`a = b`, `exists(...)` in a select
 * list) as 1 and 0. `bytea` stays a Buffer, text stays text.
 */
function rowTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(20, 'text', Number);
  types.setTypeParser(1700, 'text', Number);
  types.setTypeParser(16, 'text', (value: string) => (value === 't' ? 1 : 0));
  return types;
}

/**
 * Turns `?` placeholders into PostgreSQL's `$1..$n`, in order, leaving those
 * inside 'string literals' (E'...' with backslash escapes too), "quoted
 * identifiers", $tag$dollar-quoted strings$tag$, -- line comments and
 * /* block comments * / alone.
 */
export function numberPlaceholders(text: string): string {
  let out = '';
  let n = 0;
  let i = 0;
  /** Copies text up to and including `close`, from `from` (or the rest when it never closes). */
  const copyTo = (from: number, close: string): void => {
    const end = text.indexOf(close, from);
    const stop = end === -1 ? text.length : end + close.length;
    out += text.slice(i, stop);
    i = stop;
  };
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === "'" && /[eE]/.test(text[i - 1] ?? '') && !/\w/.test(text[i - 2] ?? '')) {
      // E'...': a backslash escapes the next character, a doubled quote is one quote.
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === "'" || c === '"') {
      // A doubled quote inside is part of the literal: the scan simply closes and reopens.
      copyTo(i + 1, c);
    } else if (c === '-' && next === '-') {
      copyTo(i, '\n');
    } else if (c === '/' && next === '*') {
      copyTo(i + 2, '*/');
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(text.slice(i)) && !/[\w$]/.test(text[i - 1] ?? '')) {
      const tag = /^\$[A-Za-z_]*\$/.exec(text.slice(i))![0];
      copyTo(i + tag.length, tag);
    } else if (c === '?') {
      out += `$${++n}`;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/**
 * PostgreSQL through `pg`: a pool of connections shared by this process's
 * use cases, and the same Kysely query builder as SQLite
 * (PostgresDialect on that pool). See `Db` for the contract; what is
 * particular here:
 * - a transaction waits for this process's previous one to end, checks a
 *   connection out of the pool for its whole run, `BEGIN`s and first takes
 *   the advisory lock `TRANSACTION_LOCK`, so two transactions, in this
 *   replica or another, never interleave, and at most one connection per
 *   replica waits on the lock; calls from other async contexts run meanwhile
 *   on other connections and see only committed data;
 * - a statement that fails inside a transaction aborts it (PostgreSQL's
 *   rule): run a statement that may fail in a nested `transaction` (a
 *   savepoint) to carry on after it;
 * - `cached` remembers only while the change listener (one more connection,
 *   LISTENing on `jamjet_changes`, checked every second) is connected; each
 *   notice, and each write of this process, forgets everything.
 */
export class PostgresDb implements Db {
  readonly engine = 'postgres' as const;
  readonly kysely: Kysely<Schema>;
  private readonly scopes = new TransactionScopes<Scope>();
  private readonly named = new Map<string, { name: string; text: string }>();
  private readonly memory = new Map<string, unknown>();
  private stamp = '';
  /** Writes this process made (counted when each ends, and again when its transaction commits). */
  private writes = 0;
  /** Change notices the listener received. */
  private notices = 0;
  /** Bumped each time the listener connects or drops, so nothing read across either is remembered. */
  private generation = 0;
  private listener: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private backoff = LISTEN_RETRY_FIRST_MS;
  private closed = false;
  /** Settles when the transaction of this process that started last has ended. */
  private turn: Promise<void> = Promise.resolve();

  /** Use `openPostgres`, which also checks the database answers and starts the change listener. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly log?: PostgresLog,
  ) {
    this.kysely = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  }

  get q(): Kysely<Schema> {
    return this.kysely;
  }

  /**
   * Resolves once every change committed anywhere before the call has been
   * heard here: one round trip on the listening connection, since
   * PostgreSQL hands a session the notifications waiting for it before it
   * answers. Resolves at once while not listening (nothing is remembered
   * then). For a caller that must read what another replica just wrote
   * through `cached`.
   */
  async settled(): Promise<void> {
    const listener = this.listener;
    if (listener) await this.onListener(listener, () => listener.query('SELECT 1')).catch(() => {});
  }

  /** Queries on the listening connection, one at a time (`pg` wants a client's queries in turn). */
  private listenerTurn: Promise<unknown> = Promise.resolve();

  private onListener<T>(client: pg.Client, query: () => Promise<T>): Promise<T> {
    const turn = this.listenerTurn.catch(() => {}).then(query);
    this.listenerTurn = turn.catch(() => {});
    return turn;
  }

  /** Whether the change listener is connected (and `cached` may remember). */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  async all<R>(query: Compilable<R>): Promise<R[]> {
    const { sql, parameters } = query.compile();
    return (await this.query<R>({ text: sql, values: parameters as unknown[] })).rows;
  }

  async get<R>(query: Compilable<R>): Promise<R | undefined> {
    const { sql, parameters } = query.compile();
    return (await this.query<R>({ text: sql, values: parameters as unknown[] })).rows[0];
  }

  async run(query: Compilable<unknown>): Promise<{ changes: number }> {
    const { sql, parameters } = query.compile();
    return { changes: (await this.query({ text: sql, values: parameters as unknown[] })).rowCount ?? 0 };
  }

  async runUncached(query: Compilable<unknown>): Promise<{ changes: number }> {
    return { changes: (await this.uncached(query)).rowCount ?? 0 };
  }

  async getUncached<R>(query: Compilable<R>): Promise<R | undefined> {
    return (await this.uncached<R>(query)).rows[0];
  }

  statement<R>(name: string, build: (q: Kysely<Schema>) => Compilable<R>): Prepared<R> {
    let prepared = this.named.get(name);
    if (!prepared) {
      const compiled = build(this.kysely).compile();
      const kind = compiled.query.kind;
      const select = kind === 'SelectQueryNode' || (kind === 'RawNode' && /^\s*select\b/i.test(compiled.sql));
      // Writes must go through all/get/run, where they are counted.
      if (!select) throw new Error(`statement ${name} is not a SELECT; use run()`);
      // Prepared once per connection under this name (at most 63 bytes, PostgreSQL's limit).
      prepared = { name: `jj${this.named.size}_${name}`.slice(0, 63), text: compiled.sql };
      this.named.set(name, prepared);
    }
    const { name: statementName, text } = prepared;
    return {
      get: async (...values) => (await this.query<R>({ name: statementName, text, values })).rows[0],
      all: async (...values) => (await this.query<R>({ name: statementName, text, values })).rows,
    };
  }

  async cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    // Inside a transaction the reads may be rolled back; without the listener a change could go unheard.
    if (this.active() || !this.listening) return compute();
    const before = this.currentStamp();
    if (before !== this.stamp) {
      this.memory.clear();
      this.stamp = before;
    }
    if (this.memory.has(key)) return this.memory.get(key) as T;
    const value = await compute();
    // A change announced (or the listener lost) while computing may have made the value stale already.
    if (value !== null && this.listening && this.memory.size < MEMORY_SIZE && this.stamp === before && this.currentStamp() === before) this.memory.set(key, value);
    return value;
  }

  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    const current = this.active();
    if (current) return this.savepoint(current, fn);
    // All transactions take the one lock, so only one of this process's can proceed at a time:
    // the others wait here rather than each holding a pooled connection the reads need.
    const previous = this.turn;
    let done!: () => void;
    this.turn = new Promise<void>((resolve) => (done = resolve));
    await previous;
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      done();
      throw error;
    }
    const scope: Scope = { client, depth: 0, committed: [], wrote: false, open: true };
    let broken: Error | undefined;
    try {
      let result: T;
      try {
        // One round trip: every one counts while the lock is held. (A failed BEGIN leaves nothing to roll back.)
        await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${TRANSACTION_LOCK})`);
        result = await this.scopes.run(scope, fn);
        scope.open = false;
        // A statement that failed inside (and was caught) made PostgreSQL abort the transaction: COMMIT then answers ROLLBACK.
        const commit = await client.query('COMMIT');
        if (commit.command === 'ROLLBACK') {
          throw new Error('The transaction was rolled back: a statement in it failed, and PostgreSQL discards the whole transaction then.');
        }
      } catch (error) {
        scope.open = false;
        // A connection that cannot even roll back is not given back to the pool.
        await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
        throw error;
      }
      if (scope.wrote) this.writes++;
      for (const done of scope.committed) done();
      return result;
    } finally {
      scope.open = false;
      client.release(broken);
      done();
    }
  }

  atomic<T>(fn: () => Promise<T>): Promise<T> {
    return this.active() ? fn() : this.transaction(fn);
  }

  afterCommit(fn: () => void): void {
    const scope = this.active();
    if (scope) scope.committed.push(fn);
    else fn();
  }

  async raw<R = Record<string, unknown>>(text: string, values: readonly unknown[] = []): Promise<R[]> {
    return (await this.query<R>({ text: numberPlaceholders(text), values: [...values] })).rows;
  }

  async ping(): Promise<void> {
    await this.query({ text: 'SELECT 1' });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => {});
    // Ends the pool too (once the connections in use are given back).
    await this.kysely.destroy();
  }

  /**
   * Connects the change listener and LISTENs; on failure, or when the
   * connection drops later, forgets everything and tries again after a
   * growing pause (until `close`). Resolves after the first attempt either way.
   */
  async listen(): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url, application_name: 'jamjet-changes', connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    let gone = false;
    const lost = (error?: Error): void => {
      if (gone) return;
      gone = true;
      if (this.listener === client) {
        this.listener = undefined;
        clearInterval(this.heartbeat);
      }
      this.generation++;
      this.memory.clear();
      client.end().catch(() => {});
      if (this.closed) return;
      this.log?.warn({ err: error, retryInMs: this.backoff }, 'PostgreSQL change listener disconnected; nothing is cached until it is back');
      this.retry = setTimeout(() => void this.listen(), this.backoff);
      this.retry.unref();
      this.backoff = Math.min(this.backoff * 2, LISTEN_RETRY_MAX_MS);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (notice) => {
      if (notice.channel === CHANGES_CHANNEL) this.notices++;
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (error) {
      lost(error as Error);
      return;
    }
    if (gone) return;
    if (this.closed) {
      gone = true;
      await client.end().catch(() => {});
      return;
    }
    this.generation++;
    this.listener = client;
    this.backoff = LISTEN_RETRY_FIRST_MS;
    let checking = false;
    this.heartbeat = setInterval(() => {
      if (checking) return;
      checking = true;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer to SELECT 1 within ${LISTEN_HEARTBEAT_TIMEOUT_MS} ms`)), LISTEN_HEARTBEAT_TIMEOUT_MS);
      });
      Promise.race([this.onListener(client, () => client.query('SELECT 1')), late])
        .catch((error: Error) => lost(error))
        .finally(() => {
          clearTimeout(timer);
          checking = false;
        });
    }, LISTEN_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private async savepoint<T>(scope: Scope, fn: () => Promise<T>): Promise<T> {
    const name = `sp${++scope.depth}`;
    const mark = scope.committed.length;
    await scope.client.query(`SAVEPOINT ${name}`);
    try {
      const result = await fn();
      await scope.client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      scope.committed.length = mark;
      // When even this fails, the outer transaction fails at its next statement; the first error is the one to tell.
      await scope.client.query(`ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`).catch(() => {});
      throw error;
    } finally {
      scope.depth--;
    }
  }

  /**
   * Runs `query` once it is known to write only one of `UNCACHED_TABLES`,
   * without counting it as a write (the table has no change trigger either,
   * so no replica forgets what it remembers).
   */
  private async uncached<R>(query: Compilable<unknown>): Promise<pg.QueryResult<R & pg.QueryResultRow>> {
    const { sql, parameters } = query.compile();
    const refused = uncachedRefusal(sql);
    if (refused) throw refused;
    const scope = this.active();
    return await (scope ? scope.client : this.pool).query<R & pg.QueryResultRow>({ text: sql, values: parameters as unknown[] });
  }

  /** The open transaction of this async context, if any. */
  private active(): Scope | undefined {
    const scope = this.scopes.get();
    return scope?.open ? scope : undefined;
  }

  /** Runs one statement in this context's transaction, or on the pool; counts it when it changed anything. */
  private async query<R>(config: pg.QueryConfig): Promise<pg.QueryResult<R & pg.QueryResultRow>> {
    const scope = this.active();
    const result = await (scope ? scope.client : this.pool).query<R & pg.QueryResultRow>(config);
    if (result.command !== 'SELECT') {
      this.writes++;
      if (scope) scope.wrote = true;
    }
    return result;
  }

  private currentStamp(): string {
    return `${this.generation}.${this.notices}.${this.writes}`;
  }
}

/**
 * Opens the PostgreSQL database at `url` (`postgres://user:password@host:port/name`,
 * as `pg` reads it) with a pool of at most `poolSize` connections, plus one
 * for the change listener. Rejects with `pg`'s error (ECONNREFUSED, a wrong
 * password, no such database) when it does not answer `SELECT 1`; the error
 * never carries the URL. A listener that cannot connect is retried in the
 * background (`cached` then remembers nothing).
 */
export async function openPostgres(url: string, options: { poolSize: number; log?: PostgresLog }): Promise<PostgresDb> {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize, types: rowTypes(), application_name: 'jamjet', connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A connection that drops while idle is reported here; without a listener it would end the process.
  pool.on('error', (error) => options.log?.warn({ err: error }, 'PostgreSQL connection lost while idle'));
  const db = new PostgresDb(pool, url, options.log);
  try {
    await db.ping();
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
  await db.listen();
  return db;
}
