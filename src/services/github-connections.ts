/**
 * Connecting a Slack user to their GitHub account (GitHub's OAuth device
 * flow), and reading with their own token whether GitHub lets them manage a
 * secret. The user token is kept only sealed (src/github/token-seal.ts) and
 * never leaves this module: not in a result, an audit event or a job payload.
 */
import type { Selectable } from 'kysely';
import type { Db } from '../db/database.ts';
import type { GithubDeviceFlowsTable } from '../db/schema.ts';
import type { TokenSealer } from '../github/token-seal.ts';
import type { SecretStore } from '../github/types.ts';
import type { GitHubUsers } from '../github/users.ts';
import { recordEvent } from './audit.ts';
import type { Actor, ServiceContext } from './context.ts';
import type { TargetSpec } from './github-targets.ts';

/** What the GitHub use cases need besides the database. */
export interface GitHubPorts {
  /** Writes with the bot's own credential. */
  readonly store: SecretStore;
  /** Asks GitHub on a person's behalf. */
  readonly users: GitHubUsers;
  readonly sealer: TokenSealer;
}

export const DEVICE_POLL_JOB = 'github.device_poll';

/** Sealed device codes and tokens carry what they belong to as additional data. */
const codeOwner = (userId: string) => `device:${userId}`;

export interface Connection {
  readonly userId: string;
  readonly login: string;
  readonly githubId: number;
  readonly connectedAt: number;
}

export async function connectionOf(db: Db, userId: string): Promise<Connection | null> {
  const row = await db.get(db.q.selectFrom('github_connections').select(['user_id', 'github_login', 'github_id', 'connected_at']).where('user_id', '=', userId));
  return row ? { userId: row.user_id, login: row.github_login, githubId: row.github_id, connectedAt: row.connected_at } : null;
}

export type StartConnect =
  | {
      readonly kind: 'started';
      readonly userCode: string;
      readonly verificationUri: string;
      readonly expiresAt: number;
      readonly connected: Connection | null;
      /** Codes of this person's earlier flows, still under way, that this one ended. */
      readonly replacedCodes: readonly string[];
    }
  | { readonly kind: 'disabled' }
  /** GitHub said no (device flow off for the app, a wrong client id): `detail` is GitHub's error code. */
  | { readonly kind: 'refused'; readonly detail: string }
  | { readonly kind: 'unavailable'; readonly detail: string };

/**
 * `github connect`: asks GitHub for a device code, keeps it sealed and
 * schedules the first poll of the token endpoint after GitHub's `interval`.
 * A flow of the same person still under way is cancelled.
 */
export async function startConnect(ctx: ServiceContext, ports: GitHubPorts, actor: Actor): Promise<StartConnect> {
  if (!ports.users.connectEnabled) return { kind: 'disabled' };
  const answer = await ports.users.requestDeviceCode();
  if (answer.kind !== 'ok') return answer;
  const { code } = answer;
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const replacedCodes = (await db
      .all(db.q.selectFrom('github_device_flows').select('user_code').where('user_id', '=', actor.userId).where('finished_at', 'is', null)))
      .map((r) => r.user_code);
    await cancelFlows(db, at, actor.userId);
    const expiresAt = at + code.expiresIn * 1000;
    const { id } = (await db.get(
      db.q
        .insertInto('github_device_flows')
        .values({
          user_id: actor.userId,
          device_code_sealed: ports.sealer.seal(code.deviceCode, codeOwner(actor.userId)),
          user_code: code.userCode,
          verification_uri: code.verificationUri,
          interval_seconds: code.interval,
          expires_at: expiresAt,
          created_at: at,
        })
        .returning('id'),
    ))!;
    await ctx.jobs.enqueue(DEVICE_POLL_JOB, { flow: id }, at + code.interval * 1000);
    await recordEvent(db, at, { projectId: null, actor: actor.userId, action: 'github.connect_started', details: { flow: id } });
    return { kind: 'started', userCode: code.userCode, verificationUri: code.verificationUri, expiresAt, connected: await connectionOf(db, actor.userId), replacedCodes };
  });
}

/** Ends the person's flows under way; how many there were. */
async function cancelFlows(db: Db, at: number, userId: string): Promise<number> {
  return (await db.run(
    db.q
      .updateTable('github_device_flows')
      .set({ finished_at: at, outcome: 'cancelled', device_code_sealed: null })
      .where('user_id', '=', userId)
      .where('finished_at', 'is', null),
  )).changes;
}

export type PollOutcome =
  /** Nothing more to do (the flow ended, or was cancelled by a newer one). */
  | { readonly kind: 'done' }
  /** Poll again in `ms` (GitHub's interval, grown by slow_down). */
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'connected'; readonly userId: string; readonly login: string }
  | { readonly kind: 'expired'; readonly userId: string }
  | { readonly kind: 'denied'; readonly userId: string }
  /** The GitHub account approved is already connected to another Slack user: one GitHub account, one person. */
  | { readonly kind: 'taken'; readonly userId: string; readonly login: string }
  | { readonly kind: 'failed'; readonly userId: string; readonly detail: string };

type FlowRow = Selectable<GithubDeviceFlowsTable>;

/**
 * One poll of GitHub's token endpoint for device flow `flowId` (the job's
 * work). `slow_down` adds 5 seconds to the interval, as GitHub documents;
 * `expired_token`, `access_denied` and the flow's own expiry end it. On a
 * token: `GET /user`, then the connection is saved with the token sealed.
 */
export async function pollConnect(ctx: ServiceContext, ports: GitHubPorts, flowId: number): Promise<PollOutcome> {
  const { db } = ctx;
  const flow = await db.get(db.q.selectFrom('github_device_flows').selectAll().where('id', '=', flowId));
  if (!flow || flow.finished_at !== null) return { kind: 'done' };
  const userId = flow.user_id;
  if (ctx.now() >= flow.expires_at) return await finish(ctx, flow, 'expired') ?? { kind: 'expired', userId };
  const deviceCode = flow.device_code_sealed ? ports.sealer.open(flow.device_code_sealed, codeOwner(userId)) : null;
  if (deviceCode === null) return await finish(ctx, flow, 'failed') ?? { kind: 'failed', userId, detail: 'unsealable' };

  const answer = await ports.users.pollToken(deviceCode);
  switch (answer.kind) {
    case 'pending':
    case 'unavailable':
      return { kind: 'wait', ms: flow.interval_seconds * 1000 };
    case 'slow_down': {
      const interval = Math.max(flow.interval_seconds + 5, answer.interval ?? 0);
      await db.run(db.q.updateTable('github_device_flows').set({ interval_seconds: interval }).where('id', '=', flow.id));
      return { kind: 'wait', ms: interval * 1000 };
    }
    case 'expired':
      return await finish(ctx, flow, 'expired') ?? { kind: 'expired', userId };
    case 'denied':
      return await finish(ctx, flow, 'denied') ?? { kind: 'denied', userId };
    case 'refused':
      return await finish(ctx, flow, 'failed') ?? { kind: 'failed', userId, detail: answer.detail };
    case 'token':
      break;
  }
  const token = answer.token;
  // The device code is spent: GitHub gives the token once. Ask for the login a few times before giving up.
  let user = await ports.users.getUser(token);
  for (let i = 0; i < 2 && user.kind === 'unavailable'; i++) user = await ports.users.getUser(token);
  if (user.kind !== 'ok') return await finish(ctx, flow, 'failed') ?? { kind: 'failed', userId, detail: user.kind === 'unavailable' ? user.detail : 'user_unauthorized' };
  const sealed = ports.sealer.seal(token, userId);
  return await db.transaction(async (): Promise<PollOutcome> => {
    const at = ctx.now();
    const current = await db.get(db.q.selectFrom('github_device_flows').select('finished_at').where('id', '=', flow.id));
    if (current?.finished_at !== null) return { kind: 'done' };
    // A code someone else approved (a code passed on, or phished) must not make this person that GitHub account
    // while its owner uses it here; the owner's `github disconnect` frees it.
    const holder = await db.get(db.q.selectFrom('github_connections').select('user_id').where('github_id', '=', user.id).where('user_id', '!=', userId));
    if (holder) {
      await db.run(db.q.updateTable('github_device_flows').set({ finished_at: at, outcome: 'failed', device_code_sealed: null }).where('id', '=', flow.id));
      await recordEvent(db, at, { projectId: null, actor: userId, action: 'github.connect_taken', details: { flow: flow.id, github_login: user.login, github_id: user.id } });
      return { kind: 'taken', userId, login: user.login };
    }
    await db.run(db.q.deleteFrom('github_connections').where('user_id', '=', userId));
    await db.run(
      db.q.insertInto('github_connections').values({ user_id: userId, github_login: user.login, github_id: user.id, token_sealed: sealed, connected_at: at }),
    );
    await db.run(db.q.updateTable('github_device_flows').set({ finished_at: at, outcome: 'connected', device_code_sealed: null }).where('id', '=', flow.id));
    await recordEvent(db, at, { projectId: null, actor: userId, action: 'github.connected', details: { github_login: user.login, github_id: user.id } });
    return { kind: 'connected', userId, login: user.login };
  });
}

/** Ends a flow; null when it ended, `done` when another process ended it first. */
async function finish(ctx: ServiceContext, flow: FlowRow, outcome: 'expired' | 'denied' | 'failed'): Promise<PollOutcome | null> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const { changes } = await db.run(
      db.q
        .updateTable('github_device_flows')
        .set({ finished_at: at, outcome, device_code_sealed: null })
        .where('id', '=', flow.id)
        .where('finished_at', 'is', null),
    );
    if (changes === 0) return { kind: 'done' } as const;
    await recordEvent(db, at, { projectId: null, actor: flow.user_id, action: `github.connect_${outcome}`, details: { flow: flow.id } });
    return null;
  });
}

/**
 * `github disconnect`: forgets the token and login, and cancels flows under
 * way; the connection it was (or null) and whether a code was cancelled.
 */
export async function disconnect(ctx: ServiceContext, actor: Actor): Promise<{ connection: Connection | null; cancelledCode: boolean }> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const at = ctx.now();
    const connection = await connectionOf(db, actor.userId);
    const cancelledCode = await cancelFlows(db, at, actor.userId) > 0;
    if (!connection) return { connection: null, cancelledCode };
    await db.run(db.q.deleteFrom('github_connections').where('user_id', '=', actor.userId));
    await recordEvent(db, at, { projectId: null, actor: actor.userId, action: 'github.disconnected', details: { github_login: connection.login } });
    return { connection, cancelledCode };
  });
}

export type Authority =
  | { readonly kind: 'jamjet_admin' }
  /** `owner` and `repo` as GitHub names them now (after a rename or transfer, in GitHub's case); `repo` null for organisations. */
  | { readonly kind: 'github'; readonly login: string; readonly owner: string; readonly repo: string | null };

/** Why GitHub's word is missing or says no. */
export type AuthorityRefusal =
  /** GITHUB_CLIENT_ID is not set: only JAMJET_ADMIN_USERS may link. */
  | { readonly kind: 'connect_disabled' }
  | { readonly kind: 'not_connected' }
  /** The sealed token does not open (the operator changed the secret) or GitHub no longer takes it. */
  | { readonly kind: 'reconnect'; readonly login: string }
  | { readonly kind: 'not_repo_admin'; readonly login: string; readonly owner: string; readonly repo: string; readonly push: boolean }
  | { readonly kind: 'repo_not_visible'; readonly login: string; readonly owner: string; readonly repo: string }
  | { readonly kind: 'not_org_admin'; readonly login: string; readonly org: string; readonly role: string | null; readonly state: string | null }
  | { readonly kind: 'org_forbidden'; readonly login: string; readonly org: string }
  /** The organisation enforces SAML single sign-on and the person's token is not authorised for it. */
  | { readonly kind: 'sso'; readonly login: string; readonly org: string }
  | { readonly kind: 'unavailable'; readonly detail: string };

/**
 * Whether GitHub says `actor` may manage the secret `spec`: admin permission
 * on the repository (`GET /repos/{owner}/{repo}`, `permissions.admin`) for
 * repository and environment secrets, an active admin membership
 * (`GET /user/memberships/orgs/{org}`) for organisation secrets, read with
 * the actor's own token. JAMJET_ADMIN_USERS are trusted without asking.
 */
export async function checkAuthority(
  ctx: ServiceContext,
  ports: GitHubPorts,
  actor: Actor,
  spec: TargetSpec,
): Promise<{ ok: true; value: Authority } | { ok: false; refusal: AuthorityRefusal }> {
  const no = (refusal: AuthorityRefusal) => ({ ok: false as const, refusal });
  if (actor.isAdmin) return { ok: true, value: { kind: 'jamjet_admin' } };
  if (!ports.users.connectEnabled) return no({ kind: 'connect_disabled' });
  const { db } = ctx;
  const row = await db.get(db.q.selectFrom('github_connections').select(['github_login', 'token_sealed']).where('user_id', '=', actor.userId));
  if (!row) return no({ kind: 'not_connected' });
  const login = row.github_login;
  const token = ports.sealer.open(row.token_sealed, actor.userId);
  if (token === null) return no({ kind: 'reconnect', login });
  const forget = async () => await db.run(db.q.deleteFrom('github_connections').where('user_id', '=', actor.userId));

  if (spec.kind === 'org') {
    const answer = await ports.users.orgMembership(token, spec.owner);
    if (answer.kind === 'unauthorized') {
      await forget();
      return no({ kind: 'reconnect', login });
    }
    if (answer.kind === 'unavailable') return no(answer);
    if (answer.kind === 'forbidden') return no({ kind: 'org_forbidden', login, org: spec.owner });
    if (answer.kind === 'sso') return no({ kind: 'sso', login, org: spec.owner });
    if (answer.kind === 'not_member') return no({ kind: 'not_org_admin', login, org: spec.owner, role: null, state: null });
    if (answer.role !== 'admin' || answer.state !== 'active') {
      return no({ kind: 'not_org_admin', login, org: spec.owner, role: answer.role, state: answer.state });
    }
    return { ok: true, value: { kind: 'github', login, owner: answer.org, repo: null } };
  }
  const answer = await ports.users.repoPermission(token, spec.owner, spec.repo!);
  if (answer.kind === 'unauthorized') {
    await forget();
    return no({ kind: 'reconnect', login });
  }
  if (answer.kind === 'unavailable') return no(answer);
  if (answer.kind === 'not_found') return no({ kind: 'repo_not_visible', login, owner: spec.owner, repo: spec.repo! });
  if (answer.kind === 'sso') return no({ kind: 'sso', login, org: spec.owner });
  if (!answer.admin) return no({ kind: 'not_repo_admin', login, owner: answer.owner, repo: answer.repo, push: answer.push });
  return { ok: true, value: { kind: 'github', login, owner: answer.owner, repo: answer.repo } };
}
