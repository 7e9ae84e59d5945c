import type { IncomingMessage } from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;

export type BodyResult = { ok: true; value: unknown } | { ok: false; status: 400 | 413; code: string; message: string };

/**
 * The whole body as bytes, or null as soon as it is (or says it is) larger
 * than `limit` bytes; the rest is then drained unread.
 */
export async function readBounded(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    return null;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      return null;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON body of at most 64 KiB; stops reading as soon as it is too large. */
export async function readJson(req: IncomingMessage): Promise<BodyResult> {
  const body = await readBounded(req, MAX_BODY_BYTES);
  if (body === null) return { ok: false, status: 413, code: 'payload_too_large', message: 'The body is larger than 64 KiB.' };
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false, status: 400, code: 'invalid_json', message: 'The body is not valid JSON.' };
  }
}
