/**
 * GitHub as a real server on 127.0.0.1, enforcing GitHub's answers: the
 * Actions secrets API (repository, environment and organisation secrets,
 * with public keys, sealed values, `updated_at`, organisation visibility and
 * selected repositories), the repository, user and membership reads, and the
 * OAuth device flow (`/login/device/code`, `/login/oauth/access_token` with
 * `authorization_pending`, `slow_down`, `expired_token`, `access_denied`).
 *
 * Who may do what follows GitHub's rules: a token must be known (401);
 * a repository is visible to accounts with a role on it (404 otherwise);
 * reading a public key or a secret needs a role, writing one needs write
 * access and, for a classic token, the `repo` scope; organisation secrets
 * need an active organisation admin and `admin:org`. Owner, repository and
 * environment names compare without case; secret names are upper-cased.
 *
 * Tokens no one registered act as the bot's account, which has write access
 * to every repository in `repos` (what the crash drills need). PUTs can be
 * made to hang, to crash the bot while it is writing a secret.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sodium from 'libsodium-wrappers';

export interface GitHubCall {
  readonly method: string;
  readonly path: string;
  readonly body: Record<string, unknown> | null;
  readonly authorization: string | null;
}

export type RepoRole = 'admin' | 'write' | 'read';

export interface Account {
  readonly login: string;
  readonly id: number;
  /** `X-OAuth-Scopes` for a classic token; null for a fine-grained token (no header). */
  readonly scopes: string | null;
}

export interface HeldSecret {
  encryptedValue: string;
  keyId: string;
  updatedAt: string;
  visibility?: 'all' | 'private' | 'selected';
  selectedRepositoryIds?: number[];
}

/** One device authorisation, as the person handles it on GitHub. */
export interface DeviceGrant {
  readonly deviceCode: string;
  readonly userCode: string;
  /** pending until the person acts; `approve` sets `login`. */
  state: 'pending' | 'approved' | 'denied';
  login: string | null;
  interval: number;
  expiresAt: number;
  lastPollAt: number | null;
  /** GitHub may ask a client to slow down at any time (rate limits); the next poll gets slow_down. */
  slowDownNext: boolean;
  /** Polls answered, by error (or `access_token`). */
  readonly answers: string[];
}

const BOT = { login: 'jamjet-bot', id: 9000, scopes: null } satisfies Account;

export class LocalGitHub {
  readonly calls: GitHubCall[] = [];
  /** Repository and environment secrets by `owner/repo/NAME` or `owner/repo/env:<environment>/NAME` (lower-case owner, repo and environment). */
  readonly secrets = new Map<string, HeldSecret>();
  readonly keyId = '568250167242549743';
  /** Repositories the bot's account may write; `acme/api` by default. */
  readonly repos = new Set(['acme/api']);
  /** Roles on repositories by `owner/repo` (lower-case), then login. */
  readonly roles = new Map<string, Map<string, RepoRole>>();
  readonly environments = new Map<string, Set<string>>();
  /** Organisation memberships: org (lower-case) → login → role and state. */
  readonly orgs = new Map<string, Map<string, { role: 'admin' | 'member'; state: 'active' | 'pending' }>>();
  readonly tokens = new Map<string, Account>();
  /** Tokens revoked on GitHub (Settings → Applications): 401 from then on. */
  readonly revoked = new Set<string>();
  readonly grants: DeviceGrant[] = [];
  /** The device-flow app's client id; other ids are refused. */
  clientId = 'Iv1.jamjettest';
  /** GitHub's clock for the device flow, in epoch ms (tests share theirs). */
  now: () => number = Date.now;
  /** While true, a PUT is recorded and never answered. */
  hangWrites = false;
  /** Old repository names (lower-case `owner/repo`) GitHub redirects to the current one, after a rename or transfer. */
  readonly renamed = new Map<string, string>();
  /** Answers a call in GitHub's place when it returns one (odd or hostile answers); otherwise the rules below answer. */
  override: ((call: GitHubCall) => { status: number; json?: unknown } | undefined) | null = null;
  /** The most items a page holds whatever `per_page` asks (GitHub: 100; a server may answer fewer). */
  maxPerPage = 100;
  url = '';
  private readonly repoIds = new Map<string, number>();
  private keys!: { publicKey: Uint8Array; privateKey: Uint8Array };
  private server: Server | null = null;
  private readonly hanging: ServerResponse[] = [];
  private seq = 0;

  async listen(): Promise<this> {
    await sodium.ready;
    this.keys = sodium.crypto_box_keypair();
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  /** A token GitHub knows, for `login`. */
  addToken(token: string, login: string, scopes: string | null = null): this {
    const existing = [...this.tokens.values()].find((a) => a.login === login);
    this.tokens.set(token, { login, id: existing?.id ?? 1000 + this.tokens.size, scopes });
    return this;
  }

  /** Gives `login` a role on `owner/repo` (creating the repository). */
  grant(fullName: string, login: string, role: RepoRole): this {
    const key = fullName.toLowerCase();
    this.repoId(key);
    if (!this.roles.has(key)) this.roles.set(key, new Map());
    this.roles.get(key)!.set(login, role);
    return this;
  }

  addEnvironment(fullName: string, environment: string): this {
    const key = fullName.toLowerCase();
    this.repoId(key);
    if (!this.environments.has(key)) this.environments.set(key, new Set());
    this.environments.get(key)!.add(environment.toLowerCase());
    return this;
  }

  member(org: string, login: string, role: 'admin' | 'member', state: 'active' | 'pending' = 'active'): this {
    const key = org.toLowerCase();
    if (!this.orgs.has(key)) this.orgs.set(key, new Map());
    this.orgs.get(key)!.set(login, { role, state });
    return this;
  }

  /** A secret written by hand on GitHub's settings page. */
  putByHand(key: string, updatedAt = '2025-01-02T03:04:05Z', reach: Pick<HeldSecret, 'visibility' | 'selectedRepositoryIds'> = {}): this {
    this.secrets.set(key, { encryptedValue: this.seal('by-hand'), keyId: this.keyId, updatedAt, ...reach });
    return this;
  }

  repoId(fullName: string): number {
    const key = fullName.toLowerCase();
    if (!this.repoIds.has(key)) this.repoIds.set(key, 100 + this.repoIds.size);
    return this.repoIds.get(key)!;
  }

  /** The person approves (or denies) the device code on GitHub's page. */
  decide(userCode: string, decision: 'approved' | 'denied', login: string | null = null): DeviceGrant {
    const grant = this.grants.find((g) => g.userCode === userCode);
    if (!grant) throw new Error(`no device grant with user code ${userCode}`);
    grant.state = decision;
    grant.login = login;
    return grant;
  }

  seal(value: string): string {
    return sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(value), this.keys.publicKey), sodium.base64_variants.ORIGINAL);
  }

  /** Opens a sealed box as GitHub would. */
  open(encryptedValue: string): string {
    const sealed = sodium.from_base64(encryptedValue, sodium.base64_variants.ORIGINAL);
    return sodium.to_string(sodium.crypto_box_seal_open(sealed, this.keys.publicKey, this.keys.privateKey));
  }

  writes(): GitHubCall[] {
    return this.calls.filter((c) => c.method === 'PUT');
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const res of this.hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private account(req: IncomingMessage): Account | null {
    const header = req.headers.authorization ?? '';
    const token = header.replace(/^(token|bearer)\s+/i, '');
    if (!token || this.revoked.has(token)) return null;
    return this.tokens.get(token) ?? BOT;
  }

  private role(fullName: string, login: string): RepoRole | null {
    if (login === BOT.login && this.repos.has(fullName)) return 'write';
    return this.roles.get(fullName)?.get(login) ?? null;
  }

  private repoExists(fullName: string): boolean {
    return this.repos.has(fullName) || this.roles.has(fullName) || this.environments.has(fullName);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: Record<string, unknown> | null = null;
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : null;
    } catch {
      body = raw ? Object.fromEntries(new URLSearchParams(raw)) : null;
    }
    const [path, query] = (req.url ?? '/').split('?') as [string, string | undefined];
    const method = req.method ?? 'GET';
    const call = { method, path, body, authorization: req.headers.authorization ?? null };
    this.calls.push(call);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(json === undefined ? '' : JSON.stringify(json));
    };
    const overridden = this.override?.(call);
    if (overridden) return send(overridden.status, overridden.json);
    // A renamed or transferred repository: GitHub redirects (301 for reads, 307 otherwise) to the current name.
    const old = /^\/repos\/([^/]+)\/([^/]+)(\/.*)?$/.exec(path);
    const current = old ? this.renamed.get(`${decodeURIComponent(old[1]!)}/${decodeURIComponent(old[2]!)}`.toLowerCase()) : undefined;
    if (old && current) {
      return send(method === 'GET' ? 301 : 307, { message: 'Moved Permanently' }, { location: `${this.url}/repos/${current}${old[3] ?? ''}${query ? `?${query}` : ''}` });
    }
    const notFound = () => send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });

    // ------------------------------------------------------------ device flow (web host)
    if (method === 'POST' && path === '/login/device/code') {
      if (body?.client_id !== this.clientId) return notFound();
      const grant: DeviceGrant = {
        deviceCode: `dc_${++this.seq}_${Math.random().toString(36).slice(2)}`,
        userCode: `WDJB-${String(1000 + this.seq)}`,
        state: 'pending',
        login: null,
        interval: 5,
        expiresAt: this.now() + 900_000,
        lastPollAt: null,
        slowDownNext: false,
        answers: [],
      };
      this.grants.push(grant);
      return send(200, {
        device_code: grant.deviceCode,
        user_code: grant.userCode,
        verification_uri: `${this.url}/login/device`,
        expires_in: 900,
        interval: grant.interval,
      });
    }
    if (method === 'POST' && path === '/login/oauth/access_token') {
      if (body?.client_id !== this.clientId) return send(200, { error: 'incorrect_client_credentials' });
      if (body?.grant_type !== 'urn:ietf:params:oauth:grant-type:device_code') return send(200, { error: 'unsupported_grant_type' });
      const grant = this.grants.find((g) => g.deviceCode === body?.device_code);
      if (!grant) return send(200, { error: 'incorrect_device_code' });
      const answer = (json: Record<string, unknown>) => {
        grant.answers.push(String(json.error ?? 'access_token'));
        return send(200, json);
      };
      const at = this.now();
      if (at >= grant.expiresAt) return answer({ error: 'expired_token' });
      // Polling faster than the interval: GitHub adds 5 seconds to it.
      if (grant.slowDownNext || (grant.lastPollAt !== null && at - grant.lastPollAt < grant.interval * 1000)) {
        grant.slowDownNext = false;
        grant.lastPollAt = at;
        grant.interval += 5;
        return answer({ error: 'slow_down', interval: grant.interval });
      }
      grant.lastPollAt = at;
      if (grant.state === 'denied') return answer({ error: 'access_denied' });
      if (grant.state === 'pending') return answer({ error: 'authorization_pending' });
      const token = `gho_${Buffer.from(`${grant.deviceCode}-user-token`).toString('hex').slice(0, 36)}`;
      this.addToken(token, grant.login!, 'repo, read:org');
      // A device code gives its token once.
      grant.expiresAt = 0;
      return answer({ access_token: token, token_type: 'bearer', scope: 'repo,read:org' });
    }

    // ------------------------------------------------------------ REST API
    const who = this.account(req);
    if (!who) return send(401, { message: 'Bad credentials' });
    const scopeHeader: Record<string, string> = who.scopes === null ? {} : { 'x-oauth-scopes': who.scopes };
    const hasScope = (scope: string) => who.scopes === null || who.scopes.split(',').map((s) => s.trim()).includes(scope);
    const m = (re: RegExp) => re.exec(path);

    if (method === 'GET' && path === '/user') return send(200, { login: who.login, id: who.id }, scopeHeader);

    let r = m(/^\/user\/memberships\/orgs\/([^/]+)$/);
    if (r && method === 'GET') {
      const org = decodeURIComponent(r[1]!).toLowerCase();
      if (!hasScope('read:org') && !hasScope('admin:org')) return send(403, { message: 'You need at least read:org scope' });
      const membership = this.orgs.get(org)?.get(who.login);
      if (!membership) return notFound();
      return send(200, { state: membership.state, role: membership.role, organization: { login: org }, user: { login: who.login } }, scopeHeader);
    }

    r = m(/^\/repos\/([^/]+)\/([^/]+)$/);
    if (r && method === 'GET') {
      const full = `${decodeURIComponent(r[1]!)}/${decodeURIComponent(r[2]!)}`.toLowerCase();
      const role = this.role(full, who.login);
      if (!role || !this.repoExists(full)) return notFound();
      return send(
        200,
        { id: this.repoId(full), full_name: full, permissions: { admin: role === 'admin', maintain: role === 'admin', push: role !== 'read', triage: true, pull: true } },
        scopeHeader,
      );
    }

    // Repository and environment secrets.
    r = m(/^\/repos\/([^/]+)\/([^/]+)\/(?:environments\/([^/]+)\/secrets|actions\/secrets)\/([^/]+)$/);
    if (r) {
      const full = `${decodeURIComponent(r[1]!)}/${decodeURIComponent(r[2]!)}`.toLowerCase();
      const env = r[3] === undefined ? null : decodeURIComponent(r[3]).toLowerCase();
      const name = decodeURIComponent(r[4]!);
      const role = this.role(full, who.login);
      if (!role || !this.repoExists(full)) return notFound();
      if (env !== null && !this.environments.get(full)?.has(env)) return notFound();
      if (name === 'public-key' && method === 'GET') {
        return send(200, { key_id: this.keyId, key: sodium.to_base64(this.keys.publicKey, sodium.base64_variants.ORIGINAL) }, scopeHeader);
      }
      const id = `${full}/${env === null ? '' : `env:${env}/`}${name.toUpperCase()}`;
      if (method === 'GET') {
        const held = this.secrets.get(id);
        if (!held) return notFound();
        return send(200, { name: name.toUpperCase(), created_at: held.updatedAt, updated_at: held.updatedAt }, scopeHeader);
      }
      if (method === 'PUT') {
        if (role === 'read' || !hasScope('repo')) return send(403, { message: 'Resource not accessible by personal access token' });
        return this.put(id, body, res, send, null);
      }
      return notFound();
    }

    // Organisation secrets.
    r = m(/^\/orgs\/([^/]+)\/actions\/secrets\/([^/]+)(\/repositories)?$/);
    if (r) {
      const org = decodeURIComponent(r[1]!).toLowerCase();
      const name = decodeURIComponent(r[2]!);
      const membership = this.orgs.get(org)?.get(who.login);
      const isAdmin = membership?.role === 'admin' && membership.state === 'active';
      if (!this.orgs.has(org)) return notFound();
      if (!isAdmin) return send(403, { message: 'Must have admin rights to organization.' });
      if (name === 'public-key' && method === 'GET') {
        return send(200, { key_id: this.keyId, key: sodium.to_base64(this.keys.publicKey, sodium.base64_variants.ORIGINAL) }, scopeHeader);
      }
      const id = `org:${org}/${name.toUpperCase()}`;
      const held = this.secrets.get(id);
      if (r[3] && method === 'GET') {
        if (!held) return notFound();
        if (held.visibility !== 'selected') return send(409, { message: 'The visibility of the secret is not selected' });
        const page = Number(new URLSearchParams(query ?? '').get('page') ?? '1');
        const perPage = Math.min(this.maxPerPage, Number(new URLSearchParams(query ?? '').get('per_page') ?? '30'));
        const ids = held.selectedRepositoryIds ?? [];
        const slice = ids.slice((page - 1) * perPage, page * perPage);
        return send(200, { total_count: ids.length, repositories: slice.map((i) => ({ id: i, name: `repo-${i}` })) }, scopeHeader);
      }
      if (method === 'GET') {
        if (!held) return notFound();
        return send(200, { name: name.toUpperCase(), created_at: held.updatedAt, updated_at: held.updatedAt, visibility: held.visibility }, scopeHeader);
      }
      if (method === 'PUT') {
        if (!hasScope('admin:org')) return send(403, { message: 'Resource not accessible by personal access token' });
        const visibility = body?.visibility;
        if (visibility !== 'all' && visibility !== 'private' && visibility !== 'selected') {
          return send(422, { message: 'Invalid request.\n\n"visibility" wasn\'t supplied.' });
        }
        if (visibility !== 'selected' && body?.selected_repository_ids !== undefined) {
          return send(422, { message: 'selected_repository_ids can only be provided when visibility is selected' });
        }
        return this.put(id, body, res, send, {
          visibility,
          selectedRepositoryIds: visibility === 'selected' ? ((body?.selected_repository_ids as number[] | undefined) ?? []) : undefined,
        });
      }
      return notFound();
    }
    notFound();
  }

  private put(
    id: string,
    body: Record<string, unknown> | null,
    res: ServerResponse,
    send: (status: number, json?: unknown) => void,
    reach: Pick<HeldSecret, 'visibility' | 'selectedRepositoryIds'> | null,
  ): void {
    if (this.hangWrites) {
      this.hanging.push(res);
      return;
    }
    if (body?.key_id !== this.keyId) return send(422, { message: 'Bad key_id' });
    try {
      this.open(String(body.encrypted_value ?? ''));
    } catch {
      return send(422, { message: 'encrypted_value is not a sealed box for this key' });
    }
    const existed = this.secrets.has(id);
    // GitHub's updated_at has whole seconds; a write in the same second still changes it here.
    const updatedAt = new Date(Math.max(Date.now(), this.now()) + this.seq++ * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    this.secrets.set(id, { encryptedValue: String(body.encrypted_value), keyId: String(body.key_id), updatedAt, ...(reach ?? {}) });
    send(existed ? 204 : 201, existed ? undefined : {});
  }
}
