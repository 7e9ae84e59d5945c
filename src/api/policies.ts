/**
 * The policy reads of the HTTP API for SDKs (docs/ARCHITECTURE.md, section 8), wire-compatible
 * with the JamJet SDKs:
 *
 * - `GET /v1/projects/{project}/policies` → 200 `{"rules": [{"id", "action",
 *   "pattern"}, ...]}` in precedence order: the Python SDK's policy sync
 *   (`jamjet.cloud._sync_policies`) reads `rules[].action` and
 *   `rules[].pattern` and adds them in order. 403 for another project's key.
 * - `GET /v1/policies?kind=<kind>&active=true` → 200 `{"policies": [{"id",
 *   "kind", "pattern"}, ...]}` of the key's project: the TypeScript SDK asks
 *   for kinds `cache_inject` and `tool_compaction` at start and reads
 *   `policies[].pattern`. The kinds this product stores are the rule actions
 *   `block`, `allow` and `require_approval`; any other kind gives `[]`.
 *   Without `kind`, every rule (kind = its action). `active=false` gives `[]`
 *   (every stored rule is active); `active` other than `true`/`false` is 400.
 *
 * Both run on every SDK start: the rules are read through `Db.cached` with a
 * statement compiled once, like the key check. Errors have the shape
 * `{"error": {"code", "message"}}`; the key check answers 401 itself.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isPolicyAction } from '../core/policies.ts';
import type { ServiceContext } from '../services/context.ts';
import type { KeyIdentity } from '../services/key-auth.ts';
import { rulesForProject } from '../services/policies.ts';
import { sendError, sendJson } from './respond.ts';

const PROJECT_POLICIES = /^\/v1\/projects\/([^/]+)\/policies$/;

export interface PolicyRouteDeps {
  readonly services: ServiceContext;
  /** The key of the request (recording its use), or null after answering 401. */
  readonly authenticated: (req: IncomingMessage, res: ServerResponse) => Promise<KeyIdentity | null>;
}

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

function wrongMethod(res: ServerResponse): void {
  sendError(res, 405, 'method_not_allowed', 'Use GET here.', { allow: 'GET' });
}

/**
 * Serves the two policy paths; resolves false for any other path (the caller
 * goes on to its other routes).
 */
export function policyRoutes(deps: PolicyRouteDeps): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
  const { db } = deps.services;
  return async (req, res, path) => {
    const project = PROJECT_POLICIES.exec(path);
    if (project) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        wrongMethod(res);
        return true;
      }
      const key = await deps.authenticated(req, res);
      if (!key) return true;
      if (key.projectName !== decode(project[1]!)) {
        sendError(res, 403, 'forbidden', 'This API key belongs to another project.');
        return true;
      }
      const rules = await rulesForProject(db, key.projectId);
      sendJson(res, 200, { rules: rules.map((r) => ({ id: r.publicId, action: r.action, pattern: r.pattern })) });
      return true;
    }

    if (path === '/v1/policies') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        wrongMethod(res);
        return true;
      }
      const key = await deps.authenticated(req, res);
      if (!key) return true;
      const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
      const active = query.get('active');
      if (active !== null && active !== 'true' && active !== 'false') {
        sendError(res, 400, 'invalid_request', '`active` must be true or false.');
        return true;
      }
      const kind = query.get('kind');
      if (active === 'false' || (kind !== null && !isPolicyAction(kind))) {
        sendJson(res, 200, { policies: [] });
        return true;
      }
      const rules = await rulesForProject(db, key.projectId);
      const chosen = kind === null ? rules : rules.filter((r) => r.action === kind);
      sendJson(res, 200, { policies: chosen.map((r) => ({ id: r.publicId, kind: r.action, pattern: r.pattern })) });
      return true;
    }
    return false;
  };
}
