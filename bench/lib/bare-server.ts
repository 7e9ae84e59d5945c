/**
 * The baseline of the HTTP benchmarks: a bare node:http server on loopback
 * that reads the request and answers a fixed JSON body with the product's
 * headers, so the ratio shows what the product adds to Node's own HTTP cost.
 */
import { createServer } from 'node:http';
import type { Cleanup } from './cleanup.ts';
import { serveOnLoopback } from './loopback.ts';

export interface BareAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/** Starts the server; returns its base URL. */
export async function startBareServer(cleanup: Cleanup, answer: BareAnswer): Promise<string> {
  const payload = JSON.stringify(answer.body);
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    'cache-control': 'no-store',
    ...answer.headers,
  };
  const server = createServer((req, res) => {
    // Read the whole body first, as the product does for a POST.
    req.resume();
    req.once('end', () => {
      res.writeHead(answer.status, headers);
      res.end(payload);
    });
  });
  return serveOnLoopback(server, cleanup);
}
