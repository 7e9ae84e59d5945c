/**
 * The one HTTP server on PORT: `/healthz`, the SDK API under `/v1/`, and in
 * HTTP mode Slack's `/slack/events`, handed untouched to the Slack layer,
 * which verifies the signature on the raw body and accepts each request once.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';
import { observeRequest } from '../metrics.ts';
import { sendError, sendJson, sendNoRoute } from './respond.ts';

export type ApiHandler = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void>;

export interface HttpRoutes {
  readonly slack: RequestListener | null;
  readonly api: ApiHandler | null;
  /** Resolves whether the database answers. */
  readonly healthy: () => Promise<boolean>;
  /** Whether the bot can receive Slack's requests now (Socket Mode: connected). */
  readonly slackReady?: () => boolean;
}

export function createHttpServer(routes: HttpRoutes, log: Logger): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    observeRequest(req, res, path);
    if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      void routes.healthy().then((healthy) => {
        if (!healthy) {
          sendJson(res, 503, { ok: false, error: { code: 'database_unavailable', message: 'The database does not answer.' } });
        } else if (routes.slackReady && !routes.slackReady()) {
          sendJson(res, 503, { ok: false, error: { code: 'slack_not_connected', message: 'The bot is not connected to Slack yet.' } });
        } else {
          sendJson(res, 200, { ok: true });
        }
      });
      return;
    }
    if (path === '/slack/events' && routes.slack) {
      routes.slack(req, res);
      return;
    }
    if (path.startsWith('/v1/') && routes.api) {
      routes.api(req, res, path).catch((error: unknown) => {
        log.error('api request failed', { path: req.url?.replace(/[?].*$/, ''), error });
        if (!res.headersSent) sendError(res, 500, 'internal', 'The request failed on our side; try again.');
        else res.end();
      });
      return;
    }
    sendNoRoute(res, req.method, path);
  });
  server.keepAliveTimeout = 65_000;
  return server;
}
