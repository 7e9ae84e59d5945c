/** Argument forms of the `policies` commands, each failing with one sentence. */
import { z } from 'zod';
import { isPolicyAction, POLICY_ACTIONS, type PolicyAction } from '../src/core/policies.ts';
import { closest } from '../src/core/suggest.ts';
import { code } from '../src/slack/mrkdwn.ts';
import { wholeNumber } from '../src/slack/args.ts';

/** `block`, `allow` or `require_approval` (also typed `require-approval` or capitalised); a typo is told the closest. */
export const policyAction = z.string().transform((value, ctx): PolicyAction => {
  const normal = value.toLowerCase().replace(/-/g, '_');
  if (isPolicyAction(normal)) return normal;
  const guess = closest(normal, POLICY_ACTIONS);
  const hint = guess ? ` Did you mean ${code(guess)}?` : '';
  ctx.addIssue({ code: 'custom', message: `${code(value)} is not a rule action; use ${POLICY_ACTIONS.join(', ')}.${hint}` });
  return z.NEVER;
});

const POSITION_RULE = 'The position must be a whole number from 1 (1 is checked first).';

/** A rule's place in the order: 1 is checked first. The upper end is checked against the project's rules. */
export const position = wholeNumber(1, 1_000_000, POSITION_RULE);
