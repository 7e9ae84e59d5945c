/** How policy rules and their changes read in Slack. */
import type { PolicyAction } from '../../core/policies.ts';
import type { PolicyChangeNotice, PolicyRule } from '../../services/policies.ts';
import type { Message } from '../surface.ts';
import { escape, mention } from '../mrkdwn.ts';

const ACTION_LABELS: Record<PolicyAction, string> = {
  block: 'block',
  allow: 'allow',
  require_approval: 'require approval',
};

/**
 * A rule's glob as inline code, whole: a stored glob is at most
 * `PATTERN_MAX` tool-name characters and wildcards (`patternProblem`), so it
 * needs no cut, and a cut one would hide what the SDKs enforce (two rules
 * differing past the cut would read alike). Escaped all the same.
 */
function glob(pattern: string): string {
  return `\`${escape(pattern).replace(/`/g, "'")}\``;
}

/**
 * A rule on one line: `3. block payments.* (pol_1a2b3c4d)`. The glob is
 * shown as code, so Slack's mrkdwn never reads its `*` as bold.
 */
export function ruleLine(rule: Pick<PolicyRule, 'publicId' | 'action' | 'pattern' | 'position'>): string {
  return `${rule.position}. *${ACTION_LABELS[rule.action]}* ${glob(rule.pattern)} \`${rule.publicId}\``;
}

/** The announcement of a change of rules in the project's approvals channel. */
export function policyChangeMessage(projectName: string, notice: PolicyChangeNotice): Message {
  const rule = `*${ACTION_LABELS[notice.action]}* ${glob(notice.pattern)} (\`${notice.rule}\`)`;
  const where = `\`${projectName}\``;
  let text: string;
  switch (notice.change) {
    case 'added':
      text = `:scroll: ${mention(notice.actor)} added policy rule ${notice.position} of ${where}: ${rule}. JamJet SDKs enforce it from their next sync.`;
      break;
    case 'removed':
      text = `:scroll: ${mention(notice.actor)} removed policy rule ${notice.position} of ${where}: ${rule}. JamJet SDKs stop enforcing it from their next sync.`;
      break;
    case 'moved':
      text = `:scroll: ${mention(notice.actor)} moved policy rule ${rule} of ${where} from position ${notice.from} to ${notice.position}; rules are checked in order and the first match decides.`;
      break;
  }
  return { text };
}
