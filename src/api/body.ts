import type { IncomingMessage } from 'node:http';

export const MAX_BODY_BYTES = 64 * 1024;

/** How deeply an agent's JSON object (an approval's `context`, a decision's `args`) may nest. */
export const MAX_JSON_DEPTH = 20;

/**
 * How deeply a JSON value nests (a scalar 0, `{}` 1, `{"a": []}` 2), counted
 * without recursion, since a hostile body can nest thousands deep. Stops
 * counting once past `MAX_JSON_DEPTH`: the answer is then only "too deep".
 */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > MAX_JSON_DEPTH) return deepest;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return deepest;
}

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
