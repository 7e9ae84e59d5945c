/**
 * The route pattern of a request path on `PORT`, for metrics: ids and
 * project names are replaced by their placeholder, so a label never holds a
 * raw path (unbounded, and a project's name is nobody else's business).
 * The patterns are those of the HTTP API (docs/ARCHITECTURE.md, section 8).
 */
const PATTERNS: readonly [RegExp, string][] = [
  [/^\/v1\/projects\/[^/]+\/readiness$/, '/v1/projects/{project}/readiness'],
  [/^\/v1\/projects\/[^/]+\/policies$/, '/v1/projects/{project}/policies'],
  [/^\/v1\/approvals$/, '/v1/approvals'],
  [/^\/v1\/approvals\/[^/]+$/, '/v1/approvals/{id}'],
  [/^\/v1\/policies$/, '/v1/policies'],
  [/^\/v1\/policy-audit\/events$/, '/v1/policy-audit/events'],
  [/^\/slack\/events$/, '/slack/events'],
  [/^\/healthz$/, '/healthz'],
];

/** `/v1/approvals/apr_123` gives `/v1/approvals/{id}`; a path that matches no route gives `unmatched`. */
export function routePattern(path: string): string {
  for (const [pattern, route] of PATTERNS) if (pattern.test(path)) return route;
  return 'unmatched';
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The request method as a label: the standard ones, or `other`. */
export function methodLabel(method: string | undefined): string {
  return method && METHODS.has(method) ? method : 'other';
}
