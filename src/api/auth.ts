import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateKey, type KeyIdentity, type UsageRecorder } from '../services/key-auth.ts';
import { keyChecks } from '../metrics.ts';
import type { ServiceContext } from '../services/context.ts';
import { sendError } from './respond.ts';

/** The key of a request, or null after answering 401 with `WWW-Authenticate: Bearer`. */
export async function requireKey(
  db: ServiceContext['db'],
  usage: UsageRecorder,
  now: () => number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<KeyIdentity | null> {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) {
    keyChecks.inc({ result: 'missing' });
    sendError(res, 401, 'unauthorized', 'Send the project API key as Authorization: Bearer jj_...', {
      'www-authenticate': 'Bearer realm="jamjet"',
    });
    return null;
  }
  const identity = await authenticateKey(db, match[1]!);
  keyChecks.inc({ result: identity ? 'valid' : 'invalid' });
  if (!identity) {
    sendError(res, 401, 'unauthorized', 'This API key is unknown or revoked.', {
      'www-authenticate': 'Bearer realm="jamjet", error="invalid_token"',
    });
    return null;
  }
  usage.record(identity.keyId, now());
  return identity;
}
