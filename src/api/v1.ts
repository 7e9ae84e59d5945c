/** The HTTP API for JamJet SDKs (DESIGN section 8). */
import type { Db } from '../db/database.ts';
import type { UsageRecorder } from '../services/key-auth.ts';
import { requireKey } from './auth.ts';
import { sendError, sendJson } from './respond.ts';
import type { ApiHandler } from './server.ts';

export interface ApiDeps {
  readonly db: Db;
  readonly usage: UsageRecorder;
  readonly now: () => number;
}

const READINESS = /^\/v1\/projects\/([^/]+)\/readiness$/;

export function createApiHandler(deps: ApiDeps): ApiHandler {
  const { db, usage, now } = deps;
  return async (req, res, path) => {
    const readiness = READINESS.exec(path);
    if (readiness) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendError(res, 405, 'method_not_allowed', 'Use GET for readiness.', { allow: 'GET' });
        return;
      }
      const key = requireKey(db, usage, now, req, res);
      if (!key) return;
      const project = decodeURIComponent(readiness[1]!);
      if (key.projectName !== project) {
        sendError(res, 403, 'forbidden', 'This API key belongs to another project.');
        return;
      }
      sendJson(res, 200, { ready: true, project: key.projectName, key_id: key.publicId });
      return;
    }
    sendError(res, 404, 'not_found', `No route for ${req.method ?? 'GET'} ${path}.`);
  };
}
