/** Requests as Slack sends them to `/slack/events`: form-encoded without charset, signed. */
import { sign, slashForm } from './fake-slack.ts';

/** Bolt answers 400 when the Content-Type carries `; charset=...`. */
const FORM = 'application/x-www-form-urlencoded';

/** The form body of `/jamjet <text>`, exactly as the tests send it. */
export function slashBody(user: string, text: string, hooksUrl: string): string {
  return slashForm(user, text, { hooks: hooksUrl });
}

/** The form body of an interaction (a button press). */
export function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * Headers for `body`, signed now. The product accepts a signed request once,
 * so a load re-signs each request (`LoadPlan.slackSigningSecret`).
 */
export function signedHeaders(body: string): Record<string, string> {
  return { 'content-type': FORM, ...sign(body) };
}
