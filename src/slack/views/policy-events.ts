/**
 * Block Kit for what SDKs report: the approvals-channel announcement of
 * blocked and over-budget decisions, and the lines of `/jamjet events`.
 * Pure functions. Everything an agent sent (tool, rule, adapter, host) may
 * have been written by an attacker: it is shown through `code`, which
 * redacts, strips direction marks, cuts and escapes it, so it can neither
 * mention (`<!channel>`) nor link; sizes are checked after escaping.
 */
import type { KnownBlock } from '@slack/web-api';
import type { AnnouncementSummary, PolicyEvent, RefusalNotice } from '../../services/policy-events.ts';
import { context, section } from '../limits.ts';
import { channel as channelRef, code, date } from '../mrkdwn.ts';
import type { Message } from '../surface.ts';

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** `BLOCKED` → `blocked`, `BUDGET_EXCEEDED` → `over budget`; other decisions as inline code. */
function decisionWord(decision: string): string {
  if (decision === 'BLOCKED') return 'blocked';
  if (decision === 'BUDGET_EXCEEDED') return 'over budget';
  return code(decision);
}

/** One decision on one line: when, decision, tool, and the rule and adapter when known. */
export function eventLine(e: PolicyEvent): string {
  const rule = e.rule ? ` by rule ${code(e.rule)}${e.ruleKind ? ` (${code(e.ruleKind)})` : ''}` : '';
  const ran = e.executed ? ' · ran' : '';
  return `• ${date(e.receivedAt)} ${code(e.decision)} ${code(e.tool)}${rule} · ${code(e.adapter)} on ${code(e.host)}${ran}`;
}

/**
 * The announcement of a burst of blocked and over-budget decisions in
 * `project`: counts per tool and decision (the most frequent eight: with every tool name at its longest after escaping they still fit one section), the
 * latest few with their rule and adapter, "and N more", and how to see them
 * all. Fits Slack's limits (section texts cut after escaping).
 */
export function announcementMessage(project: string, s: AnnouncementSummary): Message {
  const title = `:no_entry: *${plural(s.total, 'agent decision')} blocked or over budget* in \`${project}\``;
  const counts = s.groups.map((g) => `• ${g.count} × ${code(g.tool)} ${decisionWord(g.decision)}`);
  if (s.groupCount > s.groups.length) counts.push(`• and ${plural(s.groupCount - s.groups.length, 'more tool')}`);
  const blocks: KnownBlock[] = [section(`${title}\n${counts.join('\n')}`)];
  const latest = s.latest.map(eventLine);
  const more = s.total - s.latest.length;
  blocks.push(section(`*Latest*\n${latest.join('\n')}`));
  // Its own block, so a long list above can never cut it off.
  blocks.push(context(`${more > 0 ? `And ${more} more: ` : ''}\`/jamjet events ${project} --decision BLOCKED\` lists them.`));
  return { text: `${plural(s.total, 'agent decision')} blocked or over budget in \`${project}\``, blocks };
}

/**
 * The DM to an Owner when announcements of `project`'s decisions stop
 * reaching its approvals channel: which channel, why (Slack's error code, or
 * shared with another organisation), where the decisions still are, and how
 * to fix it.
 */
export function refusalNoticeMessage(project: string, notice: RefusalNotice): Message {
  const why =
    notice.error === null
      ? 'it is now shared with another organisation (Slack Connect), and what the agents were stopped from doing is not for them'
      : `Slack refuses to post there (${code(notice.error)})`;
  return {
    text:
      `:warning: Blocked and over-budget decisions of \`${project}\` are no longer announced in ${channelRef(notice.channel)}: ${why}. ` +
      `They are still listed by \`/jamjet events ${project}\`. ` +
      `To have them announced again, fix that channel or set one I can post in with \`/jamjet projects channel ${project} <#channel>\`; you will not be told again until I have posted there again or the channel is set.`,
  };
}
