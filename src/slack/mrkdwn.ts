/** Text for Slack's mrkdwn. Anything a person typed goes through `escape`. */

/** Neutralises `<!channel>`, fake links and mentions: Slack only reads &, < and > as control characters. */
export function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Undoes Slack's own escaping of the text a person typed. */
export function unescape(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

export const mention = (userId: string) => `<@${userId}>`;
export const channel = (channelId: string) => `<#${channelId}>`;
export const code = (text: string) => `\`${escape(text).replace(/`/g, "'")}\``;

/** A time Slack shows in each reader's own time zone. */
export function date(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const fallback = new Date(ms).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  return `<!date^${seconds}^{date_short_pretty} {time}|${fallback}>`;
}
