/** The HTTP API for JamJet SDKs (docs/ARCHITECTURE.md, section 8). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { approvalForKey, createApproval, type Approval } from '../services/approvals.ts';
import type { ServiceContext } from '../services/context.ts';
import type { KeyIdentity, UsageRecorder } from '../services/key-auth.ts';
import { requireKey } from './auth.ts';
import { policyRoutes } from './policies.ts';
import { jsonDepth, MAX_JSON_DEPTH, readJson } from './body.ts';
import { APPROVALS_RATE_LIMIT, POLICY_EVENTS_RATE_LIMIT, RateLimiter } from './rate-limit.ts';
import { POLICY_EVENTS_PATH, servePolicyEvents } from './policy-events.ts';
import { sendError, sendJson, sendNoRoute } from './respond.ts';
import type { ApiHandler } from './server.ts';

export interface ApiDeps {
  readonly services: ServiceContext;
  readonly usage: UsageRecorder;
  /** Runs due jobs now (the card post), without waiting for the next poll. */
  readonly kick: () => void;
}

const READINESS = /^\/v1\/projects\/([^/]+)\/readiness$/;
const APPROVAL = /^\/v1\/approvals\/([^/]+)$/;

const approvalRequest = z.object({
  action: z
    .string({ error: '`action` must be a string.' })
    .trim()
    .min(1, { error: '`action` must not be empty.' })
    .max(200, { error: '`action` must be at most 200 characters.' }),
  context: z
    .record(z.string(), z.unknown(), { error: '`context` must be a JSON object.' })
    .refine((c) => jsonDepth(c) <= MAX_JSON_DEPTH, { error: `\`context\` nests more than ${MAX_JSON_DEPTH} levels deep.` })
    .optional(),
});

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

export function approvalJson(a: Approval): Record<string, unknown> {
  return {
    id: a.id,
    status: a.status,
    ...(a.reason ? { reason: a.reason } : {}),
    ...(a.decidedBy ? { decided_by: a.decidedBy } : {}),
    ...(a.decidedAt !== null && a.status !== 'pending' ? { decided_at: new Date(a.decidedAt).toISOString() } : {}),
    // Who approved so far (the Slack user ids `decided_by` carries) and when; `status` stays `pending` until the quorum.
    approvals: a.approvals.map((v) => ({ user: v.user, at: new Date(v.at).toISOString() })),
  };
}

export function createApiHandler(deps: ApiDeps): ApiHandler {
  const { services, usage } = deps;
  const { db } = services;
  const limiter = new RateLimiter(services, APPROVALS_RATE_LIMIT);
  const eventsLimiter = new RateLimiter(services, POLICY_EVENTS_RATE_LIMIT);
  const authenticated = async (req: IncomingMessage, res: ServerResponse): Promise<KeyIdentity | null> =>
    await requireKey(db, usage, services.now, req, res);
  const wrongMethod = (res: ServerResponse, allow: string) =>
    sendError(res, 405, 'method_not_allowed', `Use ${allow} here.`, { allow });
  const policies = policyRoutes({ services, authenticated });

  return async (req, res, path) => {
    const readiness = READINESS.exec(path);
    if (readiness) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return wrongMethod(res, 'GET');
      const key = await authenticated(req, res);
      if (!key) return;
      if (key.projectName !== decode(readiness[1]!)) {
        return sendError(res, 403, 'forbidden', 'This API key belongs to another project.');
      }
      return sendJson(res, 200, { ready: true, project: key.projectName, key_id: key.publicId });
    }

    if (path === '/v1/approvals') {
      if (req.method !== 'POST') return wrongMethod(res, 'POST');
      const key = await authenticated(req, res);
      if (!key) return;
      const wait = await limiter.take(key.keyId);
      if (wait > 0) {
        return sendError(res, 429, 'rate_limited', `Too many approval requests for this key; retry in ${wait} s.`, {
          'retry-after': String(wait),
        });
      }
      const body = await readJson(req);
      // After a 413 the rest of the body is never read: the connection cannot be reused.
      if (!body.ok) return sendError(res, body.status, body.code, body.message, body.status === 413 ? { connection: 'close' } : {});
      const parsed = approvalRequest.safeParse(body.value);
      if (!parsed.success) {
        const message = body.value === null || typeof body.value !== 'object' || Array.isArray(body.value)
          ? 'The body must be a JSON object with `action` and optional `context`.'
          : (parsed.error.issues[0]?.message ?? 'The body does not fit.');
        return sendError(res, 400, 'invalid_request', message);
      }
      // The context exactly as sent: a schema's copy would drop a `__proto__` key the agent sent, and with it a field.
      const context = parsed.data.context ? (body.value as { context: Record<string, unknown> }).context : {};
      const created = await createApproval(services, key, parsed.data.action, context);
      if (!created.ok) return sendError(res, 429, 'too_many_pending', created.error.message);
      const approval = created.value;
      deps.kick();
      return sendJson(res, 201, { id: approval.id, status: 'pending' }, { location: `/v1/approvals/${approval.id}` });
    }

    if (path === POLICY_EVENTS_PATH) {
      if (req.method !== 'POST') return wrongMethod(res, 'POST');
      const key = await authenticated(req, res);
      if (!key) return;
      return servePolicyEvents(services, eventsLimiter, key, req, res, deps.kick);
    }

    const one = APPROVAL.exec(path);
    if (one) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return wrongMethod(res, 'GET');
      const key = await authenticated(req, res);
      if (!key) return;
      const id = decode(one[1]!);
      const approval = id ? await approvalForKey(services, key, id) : null;
      if (!approval) return sendError(res, 404, 'not_found', 'No approval request with that id for this key.');
      return sendJson(res, 200, approvalJson(approval));
    }

    if (await policies(req, res, path)) return;

    sendNoRoute(res, req.method, path);
  };
}
