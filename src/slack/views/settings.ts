/** How a change of a project setting (`/jamjet projects set`) reads in Slack: the reply to the person and the approvals channel's announcement. */
import { formatDuration } from '../../core/duration.ts';
import type { ProjectSetting, SettingChangeNotice } from '../../services/projects.ts';
import { escape, mention } from '../mrkdwn.ts';
import type { Message } from '../surface.ts';

/**
 * What the new value means for the project's approval requests, one or two
 * sentences: `value` is seconds for approval-timeout and escalate-after (null:
 * escalation off) and a count 1-5 for approvals-required, as stored.
 */
export function settingEffect(projectName: string, setting: ProjectSetting, value: number | null): string {
  const name = `\`${escape(projectName)}\``;
  if (setting === 'approvals-required') {
    const who = value === 1 ? 'one person (Member or above)' : `${value} different people (Member or above)`;
    return `Approval requests of ${name} created from now on need ${who} to approve; any Reject decides at once. Pending requests keep the number they were created with.`;
  }
  if (setting === 'escalate-after') {
    return value === null
      ? `Approval requests of ${name} are no longer escalated.`
      : `Approval requests of ${name} created from now on that are still pending after ${formatDuration(value)} are escalated to its Admins and Owners (a thread reply and a DM each).`;
  }
  return `Approval requests of ${name} now expire after ${formatDuration(value ?? 0)}.`;
}

/** The value as people type it in `/jamjet projects set`: `2h`, `2`, `off`. */
function typedValue(setting: ProjectSetting, value: number | null): string {
  if (setting === 'approvals-required') return String(value);
  return value === null ? 'off' : formatDuration(value);
}

/** The approvals channel's announcement: who changed which setting to what, and what that means for requests. */
export function settingChangeMessage(projectName: string, notice: SettingChangeNotice): Message {
  return {
    text: `:gear: ${mention(notice.actor)} changed a setting of \`${escape(projectName)}\`: *${notice.setting}* is now \`${typedValue(notice.setting, notice.value)}\`. ${settingEffect(projectName, notice.setting, notice.value)}`,
  };
}
