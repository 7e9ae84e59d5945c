import { z } from 'zod';
import { formatDuration } from '../src/core/duration.ts';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { projectInfo } from '../src/services/projects.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { channel, date, mention } from '../src/slack/mrkdwn.ts';

/** Owners named in the answer; past this, how many more and where the whole list is. */
const OWNERS_SHOWN = 20;

/** At most 20 mentions, then "and N more", so a project of hundreds of Owners still answers in full below Slack's cut. */
function ownersLine(owners: readonly string[], project: string): string {
  const shown = owners.slice(0, OWNERS_SHOWN).map(mention).join(', ');
  const more = owners.length - OWNERS_SHOWN;
  return more > 0 ? `${shown} and ${more} more (\`/jamjet members list ${project}\`)` : shown;
}

export default defineCommand({
  group: 'projects',
  verb: 'info',
  usage: 'projects info <project>',
  summary: 'Show a project: owners, members, approvals channel and settings.',
  positionals: ['project'],
  schema: z.object({ project: projectName }),
  async run(ctx, { project: name }) {
    const result = await projectInfo(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { project, role, owners, memberCount } = result.value;
    return {
      text: [
        `*Project \`${project.name}\`*${project.environment ? ` (environment ${project.environment})` : ''}`,
        `Your role: ${ROLE_LABELS[role]}`,
        `Owners: ${ownersLine(owners, project.name)}`,
        `Members: ${memberCount}`,
        `Approvals channel: ${project.approvalsChannel ? channel(project.approvalsChannel) : 'not set (requests go to Owners by DM)'}`,
        `Approval timeout: ${formatDuration(project.approvalTimeoutSeconds)}`,
        `Approvals required: ${project.approvalsRequired}${project.approvalsRequired > 1 ? ' different people (any Reject decides)' : ''}`,
        `Escalate after: ${project.escalateAfterSeconds === null ? 'off' : `${formatDuration(project.escalateAfterSeconds)} (to Admins and Owners)`}`,
        `Created by ${mention(project.createdBy)} ${date(project.createdAt)}`,
      ].join('\n'),
    };
  },
});
