/**
 * Keeps every server of the benchmarks on 127.0.0.1. The product has no host
 * setting: src/app.ts calls `listen(PORT)`, which binds every interface.
 * Importing this module first makes a `listen` without a host bind loopback
 * instead; run.ts imports it, and the start-up benchmark preloads it into the
 * product's process with `--import`.
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type AddressInfo, type ListenOptions } from 'node:net';
import type { Cleanup } from './cleanup.ts';

export const LOOPBACK = '127.0.0.1';

const listen = Server.prototype.listen as (this: Server, ...args: unknown[]) => Server;

Server.prototype.listen = function listenOnLoopback(this: Server, ...args: unknown[]): Server {
  const [first, second] = args;
  if (typeof first === 'number' && typeof second !== 'string') {
    args.splice(1, 0, LOOPBACK);
  } else if (typeof first === 'object' && first !== null && 'port' in first && !(first as ListenOptions).host) {
    args[0] = { ...first, host: LOOPBACK };
  }
  return listen.apply(this, args);
} as typeof Server.prototype.listen;

/** Starts `server` on a free loopback port, closed by `cleanup`; returns its base URL. */
export async function serveOnLoopback(server: HttpServer, cleanup: Cleanup): Promise<string> {
  // The product's keep-alive timeout, so every server keeps its connections alike.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://${LOOPBACK}:${(server.address() as AddressInfo).port}`;
}
