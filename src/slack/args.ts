/** zod schemas for the argument forms `/jamjet` accepts, each failing with a sentence. */
import { z } from 'zod';
import { parseDuration } from '../core/duration.ts';
import { isProjectName, parseEnvList, PROJECT_NAME_RULE } from '../core/names.ts';
import { parseRole, type Role } from '../core/roles.ts';
import { redact } from '../core/secrets.ts';
import { code } from './mrkdwn.ts';

const text = (input: unknown) => code(String(input));

export const projectName = z
  .string()
  .refine(isProjectName, { error: (iss) => `${text(iss.input)} is not a valid project name. ${PROJECT_NAME_RULE}` });

export const role = z.string().transform((value, ctx): Role => {
  const parsed = parseRole(value);
  if (parsed) return parsed;
  ctx.addIssue({ code: 'custom', message: `${text(value)} is not a role; use owner, admin, member or read_only.` });
  return z.NEVER;
});

/** `<@U123|ann>`, `<@U123>` or a bare id → `U123`. */
export const userMention = z.string().transform((value, ctx) => {
  const match = /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$/.exec(value) ?? /^([UW][A-Z0-9]{2,})$/.exec(value);
  if (match) return match[1]!;
  ctx.addIssue({ code: 'custom', message: `${text(value)} is not a Slack user; mention them with @, like @ann.` });
  return z.NEVER;
});

const EMAIL = /^[^\s@<>|]+@[^\s@<>|]+\.[^\s@<>|]+$/;
/** The longest address mail can carry (RFC 5321's 256-octet path, less its angle brackets). */
const EMAIL_MAX = 254;

/** A person to invite: a mention, or an e-mail address in Slack's `<mailto:...>` form or plain. */
export const invitee = z.string().transform((value, ctx): { userId: string } | { email: string } => {
  const user = /^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$/.exec(value) ?? /^([UW][A-Z0-9]{2,})$/.exec(value);
  if (user) return { userId: user[1]! };
  const mailto = /^<mailto:([^|>]+)(?:\|[^>]*)?>$/.exec(value);
  const email = mailto ? mailto[1]! : value;
  if (EMAIL.test(email) && redact(email) !== email) {
    ctx.addIssue({ code: 'custom', message: 'That address contains an API key or token, so it cannot be an invitation; nothing was stored.' });
    return z.NEVER;
  }
  if (EMAIL.test(email) && email.length > EMAIL_MAX) {
    ctx.addIssue({ code: 'custom', message: `${text(email)} is longer than the ${EMAIL_MAX} characters an e-mail address can have.` });
    return z.NEVER;
  }
  if (EMAIL.test(email)) return { email: email.toLowerCase() };
  ctx.addIssue({ code: 'custom', message: `${text(value)} is neither a Slack user nor an e-mail address.` });
  return z.NEVER;
});

/** `<#C123|ops>`, `<#C123>` or a bare id → `C123`. */
export const channelRef = z.string().transform((value, ctx) => {
  const match = /^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$/.exec(value) ?? /^([CG][A-Z0-9]{2,})$/.exec(value);
  if (match) return match[1]!;
  ctx.addIssue({ code: 'custom', message: `${text(value)} is not a channel; pick one with #, like #ops-approvals.` });
  return z.NEVER;
});

export const duration = z.string().transform((value, ctx) => {
  const seconds = parseDuration(value);
  if (seconds !== null) return seconds;
  ctx.addIssue({ code: 'custom', message: `${text(value)} is not a duration; use a number and s, m, h or d, like 24h.` });
  return z.NEVER;
});

export const envList = z.string().transform((value, ctx) => {
  const envs = parseEnvList(value);
  if (envs) return envs;
  ctx.addIssue({
    code: 'custom',
    message: `${text(value)} is not a list of environments; use lowercase names separated by commas, like dev,staging,prod.`,
  });
  return z.NEVER;
});

/**
 * A whole number typed as decimal digits only, from `min` to `max`; anything
 * else (`1.5`, `-2`, `1e1`, `0x10`, a word) is refused with `message`, the
 * one sentence the command answers with.
 */
export const wholeNumber = (min: number, max: number, message: string) =>
  z
    .string({ error: message })
    .regex(/^\d{1,15}$/, { error: message })
    .transform(Number)
    .pipe(z.number().min(min, { error: message }).max(max, { error: message }));

export const limit = (max: number) => wholeNumber(1, max, `The limit must be a whole number from 1 to ${max}.`);

/** `--page N` of a paged list: a whole number from 1 (the pager refuses a page past the end). */
export const page = wholeNumber(1, 100_000, 'The page must be a whole number from 1.').default(1);
