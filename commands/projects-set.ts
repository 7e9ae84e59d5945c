import { z } from 'zod';
import { parseDuration } from '../src/core/duration.ts';
import type { Project } from '../src/services/access.ts';
import { PROJECT_SETTINGS, setApprovalsRequired, setApprovalTimeout, setEscalateAfter, type ProjectSetting } from '../src/services/projects.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand, type CommandContext, type Reply } from '../src/slack/command.ts';
import { code } from '../src/slack/mrkdwn.ts';
import { settingEffect } from '../src/slack/views/settings.ts';

/**
 * The setting's value, checked for its setting: a duration for
 * approval-timeout, a whole number 1-5 for approvals-required, a duration or
 * `off` for escalate-after (null).
 */
const schema = z
  .object({
    project: projectName,
    setting: z.enum(PROJECT_SETTINGS, {
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

/**
 * The reply to the person who changed it. The approvals channel, when the
 * project has one, is told by a job the change queued (paced, retried, checked
 * for Slack Connect); the poller is woken so it goes now.
 */
function changed(ctx: CommandContext, project: Project, setting: ProjectSetting, value: number | null): Reply {
  ctx.kick?.();
  return { text: `:white_check_mark: ${settingEffect(project.name, setting, value)}` };
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
      return changed(ctx, result.value, setting, count);
    }
    if (setting === 'escalate-after') {
      const result = await setEscalateAfter(ctx.services, ctx.actor, name, seconds);
      if (!result.ok) return result.error;
      return changed(ctx, result.value, setting, seconds);
    }
    const result = await setApprovalTimeout(ctx.services, ctx.actor, name, seconds!);
    if (!result.ok) return result.error;
    return changed(ctx, result.value, setting, seconds);
  },
});
