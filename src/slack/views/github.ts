/** The sentences people read about GitHub connections and links. Pure functions. */
import { ROLE_LABELS } from '../../core/roles.ts';
import type { AuthorityRefusal, PollOutcome, StartConnect } from '../../services/github-connections.ts';
import { describeSpec, type LinkRefusal, type TargetSpec } from '../../services/github-targets.ts';
import { code, date, escape } from '../mrkdwn.ts';
import type { Message } from '../surface.ts';

const CONNECT = '`/jamjet github connect`';

/** The DM with the device code: where to enter it, and until when. */
export function deviceCodeMessage(started: Extract<StartConnect, { kind: 'started' }>): Message {
  const replaces =
    (started.connected ? ` This replaces your connection as *${escape(started.connected.login)}* once you approve.` : '') +
    (started.replacedCodes.length > 0
      ? ` The code${started.replacedCodes.length === 1 ? '' : 's'} sent before (${started.replacedCodes.map((c) => escape(c)).join(', ')}) no longer connect${started.replacedCodes.length === 1 ? 's' : ''} anything.`
      : '');
  const text =
    `:link: To connect your GitHub account, open ${escape(started.verificationUri)} and enter the code *${escape(started.userCode)}* ` +
    `before ${date(started.expiresAt)}.${replaces} I will tell you here which GitHub login is connected. ` +
    'The bot keeps your GitHub token only encrypted, and uses it only to read whether GitHub lets you manage a secret you link.';
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/** The DM at the end of a device flow. */
export function connectOutcomeMessage(outcome: Exclude<PollOutcome, { kind: 'done' | 'wait' }>): Message {
  let text: string;
  switch (outcome.kind) {
    case 'connected':
      text = `:white_check_mark: Your Slack account is connected to GitHub as *${escape(outcome.login)}*. \`/jamjet github link\` now checks with GitHub that you may manage each secret you link; \`/jamjet github disconnect\` forgets the connection.`;
      break;
    case 'expired':
      text = `:hourglass: The GitHub code expired before it was approved; nothing is connected. Run ${CONNECT} for a new code.`;
      break;
    case 'denied':
      text = `:no_entry: The authorisation was cancelled on GitHub; nothing is connected. Run ${CONNECT} to try again.`;
      break;
    case 'taken':
      text = `:no_entry: The code was approved on GitHub as *${escape(outcome.login)}*, which is already connected to another Slack account; nothing is connected. Approve your code with your own GitHub account, or have that person run \`/jamjet github disconnect\` first.`;
      break;
    case 'failed':
      text =
        outcome.detail === 'unsealable'
          ? `:x: The GitHub connection could not be finished because the bot's own secret changed meanwhile; run ${CONNECT} again.`
          : `:x: GitHub refused the connection (${code(outcome.detail)}); nothing is connected. Ask whoever runs JamJet to check GITHUB_CLIENT_ID and that device flow is enabled for that app, then run ${CONNECT} again.`;
      break;
  }
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] };
}

/** The reply when `github connect` could not start. */
export function connectRefusal(result: Exclude<StartConnect, { kind: 'started' }>): string {
  switch (result.kind) {
    case 'disabled':
      return 'GitHub connect is off: whoever runs JamJet sets GITHUB_CLIENT_ID (a GitHub App or OAuth App with device flow enabled). Until then only JamJet admins (JAMJET_ADMIN_USERS) link GitHub targets.';
    case 'refused':
      return `GitHub refused to start the device flow (${code(result.detail)}): ask whoever runs JamJet to check GITHUB_CLIENT_ID and that device flow is enabled for that app.`;
    case 'unavailable':
      return `GitHub did not answer (${escape(result.detail)}); try \`/jamjet github connect\` again in a minute.`;
  }
}

function authoritySentence(r: AuthorityRefusal, spec: TargetSpec): string {
  switch (r.kind) {
    case 'connect_disabled':
      return 'Linking a GitHub target needs GitHub to confirm you may manage that secret, and GitHub connect is off (GITHUB_CLIENT_ID is not set): ask a JamJet admin (JAMJET_ADMIN_USERS) to link it, or whoever runs JamJet to set GITHUB_CLIENT_ID.';
    case 'not_connected':
      return `Linking a GitHub target needs GitHub to confirm you may manage that secret: run ${CONNECT} first, then link again.`;
    case 'reconnect':
      return `Your GitHub connection (${escape(r.login)}) no longer works (the token expired or was revoked): run ${CONNECT} again, then link again.`;
    case 'not_repo_admin':
      return `GitHub says ${escape(r.login)} is not an admin of ${escape(`${r.owner}/${r.repo}`)}${r.push ? ' (write access only)' : ''}, and only repository admins may manage its secrets: ask a repository admin to run this link, or to make you admin.`;
    case 'repo_not_visible':
      return `GitHub shows ${escape(r.login)} no repository ${escape(`${r.owner}/${r.repo}`)}: check the name, or ask a repository admin to link it (for a GitHub App, it must also be installed there).`;
    case 'not_org_admin': {
      const now = r.role ? ` (GitHub says: role ${escape(r.role)}, ${escape(r.state ?? '')})` : ' (GitHub says: not a member)';
      return `Organisation secrets need an active admin of ${escape(r.org)}, and ${escape(r.login)} is not one${now}: ask an organisation admin to link it.`;
    }
    case 'org_forbidden':
      return `GitHub would not show ${escape(r.login)}'s membership of ${escape(r.org)}: an organisation owner must approve the JamJet GitHub app for ${escape(r.org)} (or grant it organisation members read access); then link again.`;
    case 'sso':
      return `${escape(r.org)} uses SAML single sign-on, and ${escape(r.login)}'s JamJet connection is not authorised for it: on GitHub open Settings → Applications, authorise ${escape(r.org)} for the JamJet app (or run ${CONNECT} again and authorise it there), then link again.`;
    case 'unavailable':
      return `GitHub did not answer while checking your permission on ${escape(describeSpec(spec))} (${escape(r.detail)}); try again in a minute.`;
  }
}

const PRECEDENCE: Record<string, string> = {
  same: 'is already linked to',
  shadows: 'would take precedence, in GitHub workflows, over',
  shadowed: 'would be overridden, in GitHub workflows, by',
};

/** One sentence that says why a link was refused and what to do. */
export function linkRefusal(r: Exclude<LinkRefusal, { kind: 'access' }>, project: string, spec: TargetSpec): string {
  const what = escape(describeSpec(spec));
  switch (r.kind) {
    case 'bad_prefix':
      return 'The secret name must start with JAMJET_, so the bot never overwrites a secret that is not a JamJet key; pick one with `--secret JAMJET_...`.';
    case 'already_linked':
      return `\`${project}\` is already linked to ${what} as target ${r.target.id}; see \`/jamjet github list ${project}\`.`;
    case 'held': {
      const theirs = escape(describeSpec(r.other));
      const holder = r.project
        ? `\`${r.project}\`: unlink it there first (\`/jamjet github unlink ${r.project} ${r.other.id}\`) or choose another secret name with \`--secret\``
        : 'a project you have no access to: choose another secret name with `--secret`, or ask a JamJet admin to sort it out with that project';
      const relation = r.overlap === 'same' ? `${what} already holds the key of ` : `${what} ${PRECEDENCE[r.overlap]} ${theirs}, which holds the key of `;
      return `${relation}${holder}. Each secret belongs to one project.`;
    }
    case 'too_many':
      return `\`${project}\` already has ${r.max} GitHub targets; unlink one first.`;
    case 'authority':
      return authoritySentence(r.refusal, spec);
    case 'github':
      return escape(r.message);
    case 'bot_cannot_write':
      return `The bot cannot write ${what}: ${escape(r.missing)} Ask whoever runs JamJet to grant it, then link again.`;
    case 'exists':
      return `${what} already exists on GitHub and was not written by this bot (last updated ${escape(r.updatedAt)}). If JamJet should take it over, run the link again with \`--replace-existing\`; otherwise choose another name with \`--secret\`.`;
  }
}

/** A line per paused target, for the reply to a removal or demotion. */
export function pausedNote(targets: readonly TargetSpec[], project: string): string {
  if (targets.length === 0) return '';
  const list = targets.map((t) => escape(describeSpec(t))).join('; ');
  return `\n:double_vertical_bar: Paused ${targets.length === 1 ? 'the GitHub target' : `${targets.length} GitHub targets`} they linked (not written at rotations until re-linked): ${list}. An ${ROLE_LABELS.admin} or ${ROLE_LABELS.owner} of \`${project}\` who is a GitHub admin there may link ${targets.length === 1 ? 'it' : 'them'} again with \`/jamjet github link\`.`;
}
