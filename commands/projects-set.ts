import { z } from 'zod';
import { formatDuration, parseDuration } from '../src/core/duration.ts';
import type { Project } from '../src/services/access.ts';
import { setApprovalsRequired, setApprovalTimeout, setEscalateAfter } from '../src/services/projects.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand, type CommandContext, type Reply } from '../src/slack/command.ts';
import { code, mention } from '../src/slack/mrkdwn.ts';
import { slackErrorCode } from '../src/slack/surface.ts';

const SETTINGS = ['approval-timeout', 'approvals-required', 'escalate-after'] as const;

/**
 * The setting's value, checked for its setting: a duration for
 * approval-timeout, a whole number 1-5 for approvals-required, a duration or
 * `off` for escalate-after (null).
 */
const schema = z
  .object({
    project: projectName,
    setting: z.enum(SETTINGS, {
      error: (iss) => `${code(String(iss.input))} is not a setting; the settings are approval-timeout, approvals-required and escalate-after.`,
    }),
    value: z.string(),
  })
  .transform((args, ctx) => {
    const { value } = args;
    if (args.setting === 'approvals-required') {
      if (/^[1-5]$/.test(value.trim())) return { ...args, count: Number(value.trim()), seconds: null };
      ctx.addIssue({ code: 'custom', message: `${code(value)} is not a number of approvals; use a whole number from 1 to 5.` });
      return z.NEVER;
    }
    if (args.setting === 'escalate-after' && value.trim().toLowerCase() === 'off') return { ...args, count: null, seconds: null };
    const seconds = parseDuration(value);
    if (seconds !== null) return { ...args, count: null, seconds };
    const off = args.setting === 'escalate-after' ? ', or off' : '';
    ctx.addIssue({ code: 'custom', message: `${code(value)} is not a duration; use a number and s, m, h or d, like 24h${off}.` });
    return z.NEVER;
  });

/** The change said in the approvals channel too, when the project has one: people deciding there should know the rule changed. */
function announced(ctx: CommandContext, project: Project, text: string): Reply {
  const channel = project.approvalsChannel;
  return {
    text: `:white_check_mark: ${text}`,
    ...(channel === null
      ? {}
      : {
          followUp: async (respond) => {
            try {
              await ctx.chat.postMessage(channel, { text: `:gear: ${mention(ctx.actor.userId)} changed a setting: ${text}` });
            } catch (error) {
              ctx.log.warn('setting change not announced', { project: project.name, error });
              await respond({ text: `:warning: The change is made, but I could not announce it in the approvals channel (${code(slackErrorCode(error))}).` });
            }
          },
        }),
  };
}

export default defineCommand({
  group: 'projects',
  verb: 'set',
  usage: 'projects set <project> approval-timeout <duration> | approvals-required <1-5> | escalate-after <duration|off>',
  summary:
    'Change a project setting (Member and above): how long approval requests stay open, how many people must approve one, and after how long an unanswered one is escalated to the Admins and Owners. A new quorum or escalation applies to requests created from then on.',
  positionals: ['project', 'setting', 'value'],
  schema,
  async run(ctx, { project: name, setting, count, seconds }) {
    if (setting === 'approvals-required') {
      const result = await setApprovalsRequired(ctx.services, ctx.actor, name, count!);
      if (!result.ok) return result.error;
      const who = count === 1 ? 'one person (Member or above)' : `${count} different people (Member or above)`;
      return announced(ctx, result.value, `Approval requests of \`${name}\` created from now on need ${who} to approve; any Reject decides at once. Pending requests keep the number they were created with.`);
    }
    if (setting === 'escalate-after') {
      const result = await setEscalateAfter(ctx.services, ctx.actor, name, seconds);
      if (!result.ok) return result.error;
      return announced(
        ctx,
        result.value,
        seconds === null
          ? `Approval requests of \`${name}\` are no longer escalated.`
          : `Approval requests of \`${name}\` created from now on that are still pending after ${formatDuration(seconds)} are escalated to its Admins and Owners (a thread reply and a DM each).`,
      );
    }
    const result = await setApprovalTimeout(ctx.services, ctx.actor, name, seconds!);
    if (!result.ok) return result.error;
    return announced(ctx, result.value, `Approval requests of \`${name}\` now expire after ${formatDuration(seconds!)}.`);
  },
});
