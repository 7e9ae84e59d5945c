import type { ServerResponse } from 'node:http';
import { redact } from '../core/secrets.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(payload);
}

/** The error shape of the HTTP API: `{"error": {"code", "message"}}`. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

/** Longest part of a request path an error message repeats. */
const PATH_ECHO = 200;

/**
 * 404 for a path no route serves. The path is repeated redacted and cut: a
 * key pasted into a URL (`/v1/jj_...`) is not sent back, and a 16 KiB path is
 * not either.
 */
export function sendNoRoute(res: ServerResponse, method: string | undefined, path: string): void {
  const clean = redact(path);
  const shown = clean.length > PATH_ECHO ? `${clean.slice(0, PATH_ECHO)}…` : clean;
  sendError(res, 404, 'not_found', `No route for ${method ?? 'GET'} ${shown}.`);
}
