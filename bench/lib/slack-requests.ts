/** Requests as Slack sends them to `/slack/events`: form-encoded without charset, signed. */
import { sign, TEAM_ID } from './fake-slack.ts';

/** Bolt answers 400 when the Content-Type carries `; charset=...`. */
const FORM = 'application/x-www-form-urlencoded';

/** The form body of `/jamjet <text>`, as test/helpers/slack.ts `slash()` builds it. */
export function slashBody(user: string, text: string, hooksUrl: string): string {
  return new URLSearchParams({
    token: 'legacy',
    team_id: TEAM_ID,
    team_domain: 'acme',
    channel_id: 'C0GENERAL',
    channel_name: 'general',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/jamjet',
    text,
    api_app_id: 'A0APP',
    response_url: `${hooksUrl}/commands/${TEAM_ID}/1/xyz`,
    trigger_id: `trigger-${user}`,
  }).toString();
}

/** The form body of an interaction (a button press). */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * Headers for `body`, signed now. Slack refuses signatures older than five
 * minutes, far longer than one benchmark, so one signature serves a whole load.
 */
export function signedHeaders(body: string): Record<string, string> {
  return { 'content-type': FORM, ...sign(body) };
}
