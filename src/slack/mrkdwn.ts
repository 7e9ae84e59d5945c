/**
 * Text for Slack's mrkdwn. Anything a person or an agent typed goes through
 * `escape` (or `code`), which also blanks keys and tokens, so the same
 * redaction applies wherever such text is shown.
 */
import { redact } from '../core/secrets.ts';

/** Neutralises `<!channel>`, fake links and mentions: Slack only reads &, < and > as control characters. */
export function escapeControls(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Someone's text for mrkdwn: secrets blanked (`redact`), then Slack's control characters neutralised. */
export function escape(text: string): string {
  return escapeControls(redact(text));
}

/** Undoes Slack's own escaping of the text a person typed. */
export function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export const mention = (userId: string) => `<@${userId}>`;
export const channel = (channelId: string) => `<#${channelId}>`;
const ECHO_LIMIT = 60;

/**
 * Something a person typed, shown back as inline code: on one line, cut to a
 * readable length, without bidirectional controls that could reorder the
 * sentence around it.
 */
export function code(text: string): string {
  // Redacted before it is cut, so no part of a key survives the cut.
  let shown = redact(text).replace(/[\r\n\t]+/g, ' ').replace(/[\u202a-\u202e\u2066-\u2069\u200e\u200f]/g, '');
  if (shown.length > ECHO_LIMIT) {
    // Never half of a surrogate pair (an emoji) before the "…".
    const high = shown.charCodeAt(ECHO_LIMIT - 1);
    shown = `${shown.slice(0, high >= 0xd800 && high <= 0xdbff ? ECHO_LIMIT - 1 : ECHO_LIMIT)}…`;
  }
  return `\`${escapeControls(shown).replace(/`/g, "'")}\``;
}

/** A time Slack shows in each reader's own time zone. */
export function date(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const fallback = new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return `<!date^${seconds}^{date_short_pretty} {time}|${fallback}>`;
}
