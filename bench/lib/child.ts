/**
 * The product as its own process, the way `npm start` runs it (`node
 * dist/src/main.js`, compiled by `npm run build`), for start-up and memory.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup } from './cleanup.ts';
import { LOOPBACK } from './loopback.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = `${ROOT}dist/src/main.js`;
/**
 * lib/loopback.ts for a process that runs no TypeScript: a `listen` without a
 * host binds 127.0.0.1 (the same patch, as a JavaScript module).
 */
const LOOPBACK_PRELOAD = `data:text/javascript,${encodeURIComponent(`
import { Server } from 'node:net';
const listen = Server.prototype.listen;
Server.prototype.listen = function (...args) {
  const [first, second] = args;
  if (typeof first === 'number' && typeof second !== 'string') args.splice(1, 0, ${JSON.stringify(LOOPBACK)});
  else if (first && typeof first === 'object' && 'port' in first && !first.host) args[0] = { ...first, host: ${JSON.stringify(LOOPBACK)} };
  return listen.apply(this, args);
};`)}`;
const HEALTH_POLL_MS = 10;
const HEALTH_TIMEOUT_MS = 1_000;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const STDERR_KEPT = 4_000;

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Started {
  readonly child: ChildProcess;
  /** From spawn until `GET /healthz` answered 200. */
  readonly startMs: number;
}

/** Compiles the product (`npm run build`), so what is measured is the code in this tree. */
export function buildProduct(): void {
  const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
  const result = spawnSync(process.execPath, [tsc, '-p', `${ROOT}tsconfig.build.json`], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm run build failed: ${result.stdout}${result.stderr}`);
}

/**
 * Spawns the compiled product with exactly `env` (plus what node needs to run)
 * and waits until it is healthy. It runs in `cwd`, away from the repository,
 * so a developer's `.env` cannot change what is measured. The child is killed
 * by `cleanup`, also when it never gets healthy. `nodeArgs` go to node
 * before the script (such as `--cpu-prof`).
 */
export async function startChild(cleanup: Cleanup, cwd: string, env: Record<string, string>, port: number, nodeArgs: readonly string[] = []): Promise<Started> {
  const inherited = Object.fromEntries(
    ['PATH', 'HOME', 'TMPDIR'].flatMap((name) => (process.env[name] ? [[name, process.env[name]]] : [])),
  );
  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, '--import', LOOPBACK_PRELOAD, MAIN], {
    cwd,
    env: { ...inherited, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  cleanup.add(() => stopChild(child));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
  });
  while (performance.now() - started < START_TIMEOUT_MS) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the product exited (${child.exitCode ?? child.signalCode}) before it was healthy: ${stderr}`);
    }
    const healthy = await fetch(`http://${LOOPBACK}:${port}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (healthy) return { child, startMs: performance.now() - started };
    await sleep(HEALTH_POLL_MS);
  }
  throw new Error(`the product was not healthy within ${START_TIMEOUT_MS} ms: ${stderr}`);
}

/** Resident memory of a live process, in MiB (Linux). */
export function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

/** SIGTERM (the product's clean shutdown), then SIGKILL if it is still there. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timeout = sleep(STOP_TIMEOUT_MS).then(() => 'timeout' as const);
  if ((await Promise.race([exited, timeout])) === 'timeout') {
    child.kill('SIGKILL');
    await exited;
  }
}
