/**
 * What the bot asks GitHub on a person's behalf: the OAuth device flow
 * (`POST {GITHUB_WEB_URL}/login/device/code` and `/login/oauth/access_token`,
 * GitHub's "Authorizing OAuth apps: device flow"), then with the person's own
 * token `GET /user`, `GET /repos/{owner}/{repo}` (`permissions.admin`) and
 * `GET /user/memberships/orgs/{org}` (`role`, `state`).
 *
 * Plain fetch, so no library logs a request: the token travels only in the
 * Authorization header and never appears in a result, an error or a log.
 * A failure to reach GitHub is a value (`unavailable`), never a thrown error
 * that could carry request details.
 */
import { REQUEST_TIMEOUT_MS } from './client.ts';
import { githubMessage } from './failures.ts';

export interface DeviceCode {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly verificationUri: string;
  /** Seconds until the codes expire (GitHub: 900). */
  readonly expiresIn: number;
  /** Minimum seconds between polls (GitHub: 5). */
  readonly interval: number;
}

export type Unavailable = { readonly kind: 'unavailable'; readonly detail: string };

export type DeviceCodeAnswer = { readonly kind: 'ok'; readonly code: DeviceCode } | { readonly kind: 'refused'; readonly detail: string } | Unavailable;

/** GitHub's answers to a poll of the token endpoint (all HTTP 200 on github.com). */
export type TokenAnswer =
  | { readonly kind: 'pending' }
  /** `interval` is GitHub's new minimum, when it sent one. */
  | { readonly kind: 'slow_down'; readonly interval: number | null }
  | { readonly kind: 'expired' }
  | { readonly kind: 'denied' }
  | { readonly kind: 'token'; readonly token: string }
  /** incorrect_client_credentials, device_flow_disabled, incorrect_device_code, ...: will never succeed. */
  | { readonly kind: 'refused'; readonly detail: string }
  | Unavailable;

export type UserAnswer = { readonly kind: 'ok'; readonly login: string; readonly id: number } | { readonly kind: 'unauthorized' } | Unavailable;

export type RepoAnswer =
  /** `owner` and `repo` are the names GitHub answered with (`full_name`): the current ones after a rename or transfer. */
  | { readonly kind: 'ok'; readonly admin: boolean; readonly push: boolean; readonly owner: string; readonly repo: string }
  /** GitHub shows no such repository to this person (404), or refused to (403). */
  | { readonly kind: 'not_found' }
  /** 403: the organisation enforces SAML single sign-on and the token is not authorised for it. */
  | { readonly kind: 'sso' }
  | { readonly kind: 'unauthorized' }
  | Unavailable;

export type MembershipAnswer =
  /** `org` is the organisation's login as GitHub answered it (`organization.login`), or the name asked for. */
  | { readonly kind: 'ok'; readonly role: string; readonly state: string; readonly org: string }
  | { readonly kind: 'not_member' }
  /** 403: the organisation restricts third-party access, or the token lacks read:org. */
  | { readonly kind: 'forbidden' }
  /** 403: the organisation enforces SAML single sign-on and the token is not authorised for it. */
  | { readonly kind: 'sso' }
  | { readonly kind: 'unauthorized' }
  | Unavailable;

export interface GitHubUsers {
  /** Whether GITHUB_CLIENT_ID is set: without it `github connect` is off. */
  readonly connectEnabled: boolean;
  requestDeviceCode(): Promise<DeviceCodeAnswer>;
  pollToken(deviceCode: string): Promise<TokenAnswer>;
  getUser(token: string): Promise<UserAnswer>;
  repoPermission(token: string, owner: string, repo: string): Promise<RepoAnswer>;
  orgMembership(token: string, org: string): Promise<MembershipAnswer>;
}

export interface GitHubUsersOptions {
  /** e.g. https://github.com (no trailing slash). */
  readonly webUrl: string;
  /** e.g. https://api.github.com or https://ghe.example.com/api/v3 (no trailing slash). */
  readonly apiUrl: string;
  readonly clientId: string | null;
}

/** `owner/repo` as GitHub names repositories (the same rules as src/github/names.ts). */
const FULL_NAME = /^([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})$/;
const ORG = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/;
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** Read the repositories and organisation memberships an OAuth App's user can see; GitHub Apps ignore scopes. */
const SCOPES = 'repo read:org';

type Fetched = { status: number; json: Record<string, unknown> } | Unavailable;

async function call(url: string, init: RequestInit): Promise<Fetched> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch {
    return { kind: 'unavailable', detail: `GitHub could not be reached at ${new URL(url).origin}` };
  }
  const text = await res.text().catch(() => '');
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (typeof parsed === 'object' && parsed !== null) json = parsed as Record<string, unknown>;
  } catch {
    // GitHub answered with something other than JSON (an HTML error page): only the status counts.
  }
  if (res.status >= 500 || res.status === 429) return { kind: 'unavailable', detail: `GitHub answered HTTP ${res.status}` };
  return { status: res.status, json };
}

const isUnavailable = (f: Fetched): f is Unavailable => 'kind' in f;

export function createGitHubUsers(options: GitHubUsersOptions): GitHubUsers {
  const { webUrl, apiUrl, clientId } = options;
  const form = (fields: Record<string, string>): RequestInit => ({
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'jamjet-slack-control-plane' },
    body: new URLSearchParams(fields).toString(),
  });
  const api = (token: string, path: string) =>
    call(`${apiUrl}${path}`, {
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${token}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': 'jamjet-slack-control-plane',
      },
    });
  const seg = encodeURIComponent;

  return {
    connectEnabled: clientId !== null,

    async requestDeviceCode() {
      if (!clientId) return { kind: 'refused', detail: 'GITHUB_CLIENT_ID is not set' };
      const res = await call(`${webUrl}/login/device/code`, form({ client_id: clientId, scope: SCOPES }));
      if (isUnavailable(res)) return res;
      const j = res.json;
      // GitHub's answer is shown in Slack: only a plausible code and an http(s) address of sane size.
      if (
        res.status === 200 &&
        typeof j.device_code === 'string' &&
        j.device_code.length <= 200 &&
        typeof j.user_code === 'string' &&
        /^[A-Za-z0-9-]{4,32}$/.test(j.user_code) &&
        typeof j.verification_uri === 'string' &&
        /^https?:\/\/[^\s<>|]{1,300}$/.test(j.verification_uri)
      ) {
        return {
          kind: 'ok',
          code: {
            deviceCode: j.device_code,
            userCode: j.user_code,
            verificationUri: j.verification_uri,
            expiresIn: seconds(j.expires_in, 900, 60, 3600),
            interval: seconds(j.interval, 5, 1, 600),
          },
        };
      }
      const error = typeof j.error === 'string' ? j.error.slice(0, 60) : `HTTP ${res.status}`;
      return { kind: 'refused', detail: error };
    },

    async pollToken(deviceCode) {
      if (!clientId) return { kind: 'refused', detail: 'GITHUB_CLIENT_ID is not set' };
      const res = await call(`${webUrl}/login/oauth/access_token`, form({ client_id: clientId, device_code: deviceCode, grant_type: DEVICE_GRANT }));
      if (isUnavailable(res)) return res;
      const j = res.json;
      if (typeof j.access_token === 'string' && j.access_token !== '') return { kind: 'token', token: j.access_token };
      switch (j.error) {
        case 'authorization_pending':
          return { kind: 'pending' };
        case 'slow_down':
          return { kind: 'slow_down', interval: typeof j.interval === 'number' ? seconds(j.interval, 5, 1, 600) : null };
        case 'expired_token':
          return { kind: 'expired' };
        case 'access_denied':
          return { kind: 'denied' };
        default:
          return { kind: 'refused', detail: typeof j.error === 'string' ? j.error.slice(0, 60) : `HTTP ${res.status}` };
      }
    },

    async getUser(token) {
      const res = await api(token, '/user');
      if (isUnavailable(res)) return res;
      if (res.status === 401) return { kind: 'unauthorized' };
      const { login, id } = res.json;
      // Logins are shown in Slack and kept: only what GitHub allows (managed users add _shortcode).
      if (res.status === 200 && typeof login === 'string' && /^[A-Za-z0-9_.-]{1,100}$/.test(login) && Number.isSafeInteger(id)) {
        return { kind: 'ok', login, id: id as number };
      }
      return { kind: 'unavailable', detail: `GitHub answered /user with HTTP ${res.status}${detail(res.json, token)}` };
    },

    async repoPermission(token, owner, repo) {
      const res = await api(token, `/repos/${seg(owner)}/${seg(repo)}`);
      if (isUnavailable(res)) return res;
      if (res.status === 401) return { kind: 'unauthorized' };
      if (res.status === 403) return forbidden(res.json, token) ?? { kind: 'not_found' };
      if (res.status === 404) return { kind: 'not_found' };
      const permissions = res.json.permissions as { admin?: unknown; push?: unknown } | undefined;
      if (res.status === 200) {
        // GitHub follows a renamed or transferred repository to its current name; its full_name says which it is.
        const full = typeof res.json.full_name === 'string' ? FULL_NAME.exec(res.json.full_name) : null;
        if (!full) return { kind: 'unavailable', detail: 'GitHub answered without the repository full_name' };
        return { kind: 'ok', admin: permissions?.admin === true, push: permissions?.push === true, owner: full[1]!, repo: full[2]! };
      }
      return { kind: 'unavailable', detail: `GitHub answered HTTP ${res.status}${detail(res.json, token)}` };
    },

    async orgMembership(token, org) {
      const res = await api(token, `/user/memberships/orgs/${seg(org)}`);
      if (isUnavailable(res)) return res;
      if (res.status === 401) return { kind: 'unauthorized' };
      if (res.status === 404) return { kind: 'not_member' };
      if (res.status === 403) return forbidden(res.json, token) ?? { kind: 'forbidden' };
      const { role, state } = res.json;
      if (res.status === 200) {
        const login = (res.json.organization as { login?: unknown } | undefined)?.login;
        const name = typeof login === 'string' && ORG.test(login) && login.toLowerCase() === org.toLowerCase() ? login : org;
        return { kind: 'ok', role: String(role ?? ''), state: String(state ?? ''), org: name };
      }
      return { kind: 'unavailable', detail: `GitHub answered HTTP ${res.status}${detail(res.json, token)}` };
    },
  };
}

/**
 * The 403s that say something other than "no permission": a rate limit,
 * which passes with time, and an organisation's SAML single sign-on, which
 * the person lifts by authorising the token on GitHub. Null for the rest.
 */
function forbidden(json: Record<string, unknown>, token: string): Unavailable | { readonly kind: 'sso' } | null {
  const message = githubMessage(json, [token]);
  if (/rate limit/i.test(message)) return { kind: 'unavailable', detail: 'GitHub rate limit' };
  if (/SAML|single sign-on|\bSSO\b/i.test(message)) return { kind: 'sso' };
  return null;
}

/**
 * A whole number of seconds GitHub sent, kept within `min`..`max` (GitHub
 * sends 900 and 5): an odd answer must neither poll GitHub many times a
 * second nor keep a code alive for ever. `fallback` when it is not a number.
 */
function seconds(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.ceil(value)));
}

/** GitHub's message after `: `, with the token removed: GitHub's answers are not trusted to leave it out. */
function detail(json: Record<string, unknown>, token: string): string {
  const message = githubMessage(json, [token, `Bearer ${token}`]);
  return message ? `: ${message}` : '';
}
