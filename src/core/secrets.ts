/**
 * What a secret looks like, so it can be blanked wherever text leaves the
 * bot: log lines, and anything an agent sent that is shown in Slack or
 * written to the audit trail.
 */
const SECRETS: [RegExp, string][] = [
  [/jj_[0-9a-f]{32}/gi, 'jj_[redacted]'],
  [/xox[abpres]-[\w-]+/gi, 'xox*-[redacted]'],
  [/xapp-[\w-]+/gi, 'xapp-[redacted]'],
  [/gh[pousr]_[A-Za-z0-9]{20,}/g, 'gh*_[redacted]'],
  [/github_pat_\w+/g, 'github_pat_[redacted]'],
  // A Reveal or Retry button's value: a delivery id and the key that opens it.
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.[A-Za-z0-9_-]{43}/g, '[redacted button value]'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, '[redacted private key]'],
];

export function redact(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRETS) out = out.replace(pattern, replacement);
  return out;
}
