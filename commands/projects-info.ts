import { z } from 'zod';
import { formatDuration } from '../src/core/duration.ts';
import { ROLE_LABELS } from '../src/core/roles.ts';
import { projectInfo } from '../src/services/projects.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { channel, date, mention } from '../src/slack/mrkdwn.ts';

export default defineCommand({
  group: 'projects',
  verb: 'info',
  usage: 'projects info <project>',
  summary: 'Show a project: owners, members, approvals channel and settings.',
  positionals: ['project'],
  schema: z.object({ project: projectName }),
  run(ctx, { project: name }) {
    const result = projectInfo(ctx.services, ctx.actor, name);
    if (!result.ok) return result.error;
    const { project, role, owners, memberCount } = result.value;
    return {
      text: [
        `*Project \`${project.name}\`*${project.environment ? ` (environment ${project.environment})` : ''}`,
        `Your role: ${ROLE_LABELS[role]}`,
        `Owners: ${owners.map(mention).join(', ')}`,
        `Members: ${memberCount}`,
        `Approvals channel: ${project.approvalsChannel ? channel(project.approvalsChannel) : 'not set (requests go to Owners by DM)'}`,
        `Approval timeout: ${formatDuration(project.approvalTimeoutSeconds)}`,
        `Created by ${mention(project.createdBy)} ${date(project.createdAt)}`,
      ].join('\n'),
    };
  },
});
