/**
 * Slack as the app sees it in tests: the Web API answered by nock (recording
 * every call), and signed requests sent to the app's real Bolt receiver.
 */
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { judge } from './slack-rules.ts';

export const SLACK_HOST = 'http://slack.test';
export const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5'.replace(/[yz]/g, 'e');
export const TEAM_ID = 'T0TEAM';
export const HOOKS_HOST = 'http://hooks.slack.test';

export interface SlackCall {
  readonly method: string;
  readonly body: Record<string, unknown>;
  readonly raw: string;
  /** Whether Slack took it (HTTP 200 and `ok: true`); set once answered. */
  ok?: boolean;
}

/** An answer body, or [status, body] or [status, body, headers] for an HTTP failure such as 429. */
type Handler = (
  body: Record<string, unknown>,
) => Record<string, unknown> | [number, Record<string, unknown>] | [number, Record<string, unknown>, Record<string, string>];

/**
 * A member as `users.info` describes one (Slack's field names). Unset flags
 * are false; `team_id` defaults to the bot's workspace.
 */
export interface FakeUser {
  id: string;
  email?: string;
  is_bot?: boolean;
  deleted?: boolean;
  /** A multi-channel guest. */
  is_restricted?: boolean;
  /** A single-channel guest (Slack sets is_restricted too). */
  is_ultra_restricted?: boolean;
  /** Another workspace's id: someone from a Slack Connect organisation. */
  team_id?: string;
  /** Their Enterprise Grid organisation, when they belong to one. */
  enterprise_id?: string;
}

/** `users.info`'s user object for a fake member. */
function userObject(user: FakeUser): Record<string, unknown> {
  const { email, enterprise_id, ...flags } = user;
  return {
    team_id: TEAM_ID,
    name: user.id.toLowerCase(),
    deleted: false,
    is_bot: false,
    is_app_user: false,
    is_admin: false,
    is_owner: false,
    is_restricted: Boolean(user.is_ultra_restricted),
    is_ultra_restricted: false,
    ...flags,
    ...(enterprise_id ? { enterprise_user: { id: user.id, enterprise_id, enterprise_name: 'Org', teams: [user.team_id ?? TEAM_ID] } } : {}),
    profile: email ? { email } : {},
  };
}

/** Ids Slack could hand out for a person: U… or, on Enterprise Grid, W…. */
const MEMBER_ID = /^[UW][A-Z0-9]{2,}$/;
/** A channel as Slack keeps it; `members` are user ids, the bot is `BOT_USER`. */
export interface FakeChannel {
  id: string;
  members: string[];
  is_private?: boolean;
  is_archived?: boolean;
  is_ext_shared?: boolean;
  is_mpim?: boolean;
}

/** The bot's own user id, as auth.test answers it. */
export const BOT_USER = 'UBOT';

function parseBody(raw: string): Record<string, unknown> {
  if (raw.trim().startsWith('{')) return JSON.parse(raw) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    out[k] = /^[[{]/.test(v) ? (JSON.parse(v) as unknown) : v;
  }
  return out;
}

/** A payload the fake refused as real Slack would (`invalid_blocks`, `msg_too_long`, ...). */
export interface Refusal {
  readonly method: string;
  readonly error: string;
  readonly detail: string;
}

export interface FakeSlackOptions {
  /** The clock of Slack's rate limiter, in epoch milliseconds; real time by default. */
  readonly now?: () => number;
  /** chat.postMessage per channel per second, about 1 in real Slack. */
  readonly postsPerSecond?: number;
  /** How many posts to one channel may come at once before the per-second pace applies. */
  readonly burst?: number;
  /** False for a drill that sends thousands of commands a second, far faster than people type: no 429s at all. */
  readonly rateLimits?: boolean;
}

/**
 * Calls a minute Slack allows each method the product calls besides posting
 * (its rate-limit tiers: Tier 3 about 50, Tier 4 about 100); past that it
 * answers 429 with Retry-After. chat.postMessage is paced per channel instead.
 */
export const METHOD_TIERS: Record<string, number> = {
  'chat.update': 50,
  'conversations.info': 50,
  'conversations.members': 100,
  'users.info': 100,
  'users.lookupByEmail': 100,
  'views.open': 100,
  'views.publish': 100,
};

/** Replies Slack takes through one response_url (within its 30 minutes). */
export const RESPONSE_URL_USES = 5;

/** Commands and button answers read well below Slack's cut (docs/ARCHITECTURE.md, section 13): lists are paged. */
export const ANSWER_LIMIT = 4000;

/**
 * Checks a command's or an interaction's answer as Slack would, plus the
 * product's own answer size; throws naming what is wrong, so a test that
 * produces an oversized answer fails.
 */
export function assertFits(method: string, body: Record<string, unknown>): void {
  const verdict = judge(method, body);
  if (verdict) throw new Error(`Slack would refuse this ${method} (${verdict.error}): ${verdict.detail}`);
  if (typeof body.text === 'string' && body.text.length > ANSWER_LIMIT) {
    throw new Error(`a ${method} answer of ${body.text.length} characters; keep answers under ${ANSWER_LIMIT} and page lists`);
  }
}

export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly users = new Map<string, FakeUser>();
  private readonly unknown = new Set<string>();
  readonly channels = new Map<string, FakeChannel>();
  /** Payloads refused for breaking Slack's limits; a test app's stop() fails when any are left unclaimed. */
  readonly refusals: Refusal[] = [];
  /** Calls answered 429: chat.postMessage by channel, other methods as `method:<name>`. */
  readonly rateLimited: { channel: string; at: number; retryAfter: number }[] = [];
  /** Set by a test that provokes refusals on purpose. */
  expectRefusals = false;
  private readonly handlers = new Map<string, Handler>();
  /** Calls of a method held back until the test lets them through (see `hold`). */
  private readonly holds = new Map<string, { reached: () => void; released: Promise<void> }>();
  /** Replies sent to each response_url path. */
  private readonly hookUses = new Map<string, number>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly methodBuckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private readonly postsPerSecond: number;
  private readonly burst: number;
  private readonly rateLimits: boolean;
  private ts = 1_700_000_000;

  constructor(options: FakeSlackOptions = {}) {
    this.now = options.now ?? Date.now;
    this.postsPerSecond = options.postsPerSecond ?? 1;
    this.burst = options.burst ?? 5;
    this.rateLimits = options.rateLimits ?? true;
    this.on('auth.test', () => ({ ok: true, team_id: TEAM_ID, user_id: 'UBOT', bot_id: 'BBOT', team: 'Acme' }));
    this.on('chat.postMessage', (b) => ({ ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${this.ts++}.000100` }));
    this.on('chat.update', (b) => ({ ok: true, channel: b.channel, ts: b.ts }));
    this.on('views.open', () => ({ ok: true, view: { id: 'V1' } }));
    this.on('views.publish', () => ({ ok: true, view: { id: 'V2' } }));
    // Every well-formed id a test did not describe is an ordinary full member
    // of the workspace, without a known address; `withoutUser` makes one unknown.
    this.on('users.info', (b) => {
      const id = String(b.user);
      const user = this.users.get(id) ?? (MEMBER_ID.test(id) && !this.unknown.has(id) ? { id } : null);
      return user ? { ok: true, user: userObject(user) } : { ok: false, error: 'user_not_found' };
    });
    // As Slack does: a private channel the bot is not in is indistinguishable from no channel.
    const visible = (id: unknown) => {
      const c = this.channels.get(String(id));
      return c && (!c.is_private || c.members.includes(BOT_USER)) ? c : null;
    };
    this.on('conversations.info', (b) => {
      const c = visible(b.channel);
      if (!c) return { ok: false, error: 'channel_not_found' };
      const { members, ...rest } = c;
      return { ok: true, channel: { ...rest, is_channel: !c.is_private && !c.is_mpim, is_member: members.includes(BOT_USER) } };
    });
    this.on('conversations.members', (b) => {
      const c = visible(b.channel);
      if (!c) return { ok: false, error: 'channel_not_found' };
      const limit = b.limit === undefined ? 100 : Number(b.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return { ok: false, error: 'invalid_limit' };
      const start = b.cursor ? Number(Buffer.from(String(b.cursor), 'base64').toString('utf8').replace(/^offset:/, '')) : 0;
      if (!Number.isInteger(start) || start < 0) return { ok: false, error: 'invalid_cursor' };
      const page = c.members.slice(start, start + limit);
      const next = start + limit < c.members.length ? Buffer.from(`offset:${start + limit}`).toString('base64') : '';
      return { ok: true, members: page, response_metadata: { next_cursor: next } };
    });
    this.on('users.lookupByEmail', (b) => {
      const user = [...this.users.values()].find((u) => u.email?.toLowerCase() === String(b.email).toLowerCase());
      return user ? { ok: true, user: userObject(user) } : { ok: false, error: 'users_not_found' };
    });
  }

  /** Replaces the answer to one Web API method. */
  on(method: string, handler: Handler): this {
    this.handlers.set(method, handler);
    return this;
  }

  addChannel(channel: FakeChannel): this {
    this.channels.set(channel.id, channel);
    return this;
  }

  /** Describes a member (a guest, a deactivated account, a bot, someone from another organisation...). */
  addUser(user: FakeUser): this {
    this.users.set(user.id, user);
    this.unknown.delete(user.id);
    return this;
  }

  /** Makes `users.info` answer `user_not_found` for this id. */
  withoutUser(id: string): this {
    this.users.delete(id);
    this.unknown.add(id);
    return this;
  }

  /**
   * Slack's per-channel posting pace as a token bucket: `burst` posts at
   * once, then `postsPerSecond`. Returns 0 when the post may go, else the
   * whole seconds to wait (Retry-After).
   */
  private pace(channel: string): number {
    const at = this.now();
    const bucket = this.buckets.get(channel) ?? { tokens: this.burst, at };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((at - bucket.at) / 1000) * this.postsPerSecond);
    bucket.at = at;
    this.buckets.set(channel, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.postsPerSecond));
  }

  /** A method's own limit (Slack's tiers, per minute per workspace): a whole minute's calls may come at once. Returns the seconds to wait, or 0. */
  private paceMethod(method: string, perMinute: number): number {
    const at = this.now();
    const bucket = this.methodBuckets.get(method) ?? { tokens: perMinute, at };
    bucket.tokens = Math.min(perMinute, bucket.tokens + ((at - bucket.at) / 60_000) * perMinute);
    bucket.at = at;
    this.methodBuckets.set(method, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / perMinute));
  }

  /** Records a Web API call and computes Slack's answer: limits first, then the rate limit, then the handler. */
  answer(method: string, raw: string): [number, Record<string, unknown>, Record<string, string>] {
    const body = parseBody(raw);
    const call: SlackCall = { method, body, raw };
    this.calls.push(call);
    const answer = this.compute(method, body);
    call.ok = answer[0] === 200 && answer[1].ok === true;
    return answer;
  }

  private compute(method: string, body: Record<string, unknown>): [number, Record<string, unknown>, Record<string, string>] {
    const verdict = judge(method, body);
    if (verdict) {
      this.refusals.push({ method, ...verdict });
      return [200, { ok: false, error: verdict.error, response_metadata: { messages: [`[ERROR] ${verdict.detail}`] } }, {}];
    }
    if (method === 'chat.postMessage' && this.rateLimits) {
      const channel = String(body.channel);
      const wait = this.pace(channel);
      if (wait > 0) {
        this.rateLimited.push({ channel, at: this.now(), retryAfter: wait });
        return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(wait) }];
      }
    }
    const perMinute = METHOD_TIERS[method];
    if (perMinute !== undefined && this.rateLimits) {
      const wait = this.paceMethod(method, perMinute);
      if (wait > 0) {
        this.rateLimited.push({ channel: `method:${method}`, at: this.now(), retryAfter: wait });
        return [429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(wait) }];
      }
    }
    const handler = this.handlers.get(method);
    if (!handler) return [200, { ok: false, error: 'unknown_method' }, {}];
    const answer = handler(body);
    return Array.isArray(answer) ? [answer[0], answer[1], answer[2] ?? {}] : [200, answer, {}];
  }

  /**
   * Holds back the next call of `method`, as a slow network would: Slack
   * takes it (records and answers it) only after `release()`, so calls made
   * meanwhile reach it first. `reached` resolves when the held call arrives.
   */
  hold(method: string): { reached: Promise<void>; release(): void } {
    let reached!: () => void;
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.set(method, { reached, released });
    return { reached: arrived, release };
  }

  /** Starts answering through nock; call `nock.cleanAll()` to stop. */
  install(): this {
    nock(SLACK_HOST)
      .persist()
      .post(/^\/api\/[\w.]+$/)
      .reply((uri, requestBody, callback) => {
        const raw = typeof requestBody === 'string' ? requestBody : JSON.stringify(requestBody);
        const method = uri.replace(/^\/api\//, '');
        const held = this.holds.get(method);
        if (!held) return callback(null, this.answer(method, raw));
        this.holds.delete(method);
        held.reached();
        void held.released.then(() => callback(null, this.answer(method, raw)));
      });
    // Replies through response_url (follow-ups, button answers) are recorded as `response_url`.
    nock(HOOKS_HOST)
      .persist()
      .post(/.*/)
      .reply((uri, requestBody) => {
        const raw = typeof requestBody === 'string' ? requestBody : JSON.stringify(requestBody);
        return this.hook(uri, raw);
      });
    return this;
  }

  /**
   * The same fake as a real server on 127.0.0.1, for a bot in another
   * process: `SLACK_API_URL` is `${url}/api/`, response URLs post to `${url}/hooks/...`.
   */
  async listen(): Promise<{ url: string; server: Server; close(): Promise<void> }> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const path = (req.url ?? '').split('?')[0]!;
        if (path.startsWith('/hooks/')) {
          const [status, text] = this.hook(path, raw);
          res.writeHead(status).end(text);
          return;
        }
        const [status, body, headers] = this.answer(path.replace(/^\/api\//, ''), raw);
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
      });
    });
    server.keepAliveTimeout = 1000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      url,
      server,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  /**
   * A reply through response_url: Slack answers 400 with the error for a
   * payload it refuses, and takes at most five replies per response_url
   * ("up to five times within 30 minutes"); the sixth is refused (404 `used_url`).
   */
  private hook(path: string, raw: string): [number, string] {
    const body = parseBody(raw);
    const call: SlackCall = { method: 'response_url', body, raw };
    this.calls.push(call);
    const uses = (this.hookUses.get(path) ?? 0) + 1;
    this.hookUses.set(path, uses);
    const verdict =
      judge('response_url', body) ??
      answerTooLong(body) ??
      (uses > RESPONSE_URL_USES ? { error: 'used_url', detail: `reply ${uses} to one response_url; Slack takes ${RESPONSE_URL_USES}` } : null);
    if (verdict) {
      this.refusals.push({ method: 'response_url', ...verdict });
      call.ok = false;
      return [verdict.error === 'used_url' ? 404 : 400, verdict.error];
    }
    call.ok = true;
    return [200, 'ok'];
  }

  /** Fails naming every payload Slack would have refused, unless the test expects refusals. */
  assertNoRefusals(): void {
    if (this.expectRefusals || this.refusals.length === 0) return;
    const list = this.refusals.map((r) => `${r.method}: ${r.error}: ${r.detail}`).join('\n');
    throw new Error(`Slack refused ${this.refusals.length} payload(s) the product built:\n${list}`);
  }

  callsTo(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }
}

function answerTooLong(body: Record<string, unknown>) {
  const text = body.text;
  return typeof text === 'string' && text.length > ANSWER_LIMIT
    ? { error: 'answer_too_long', detail: `an answer of ${text.length} characters, over ${ANSWER_LIMIT}` }
    : null;
}

export function sign(body: string, timestamp = Math.floor(Date.now() / 1000), secret = SIGNING_SECRET) {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return { 'x-slack-signature': signature, 'x-slack-request-timestamp': String(timestamp) };
}

export interface SlashOptions {
  readonly team?: string;
  readonly channel?: string;
  readonly timestamp?: number;
  readonly secret?: string;
  /** Where Slack would take follow-up replies; defaults to the nock host. */
  readonly hooks?: string;
}

let slashCount = 0;

/** The form body Slack posts for `/jamjet <text>`; like Slack's, each carries its own trigger_id. */
export function slashForm(user: string, text: string, options: SlashOptions = {}): string {
  slashCount++;
  return new URLSearchParams({
    token: 'legacy',
    team_id: options.team ?? TEAM_ID,
    team_domain: 'acme',
    channel_id: options.channel ?? 'C0GENERAL',
    channel_name: 'general',
    user_id: user,
    user_name: user.toLowerCase(),
    command: '/jamjet',
    text,
    api_app_id: 'A0APP',
    // Each command its own response_url, as Slack gives: each takes five replies.
    response_url: `${options.hooks ?? HOOKS_HOST}/commands/T0TEAM/${slashCount}/xyz`,
    trigger_id: `trigger-${user}-s${slashCount}`,
  }).toString();
}

/** Sends `/jamjet <text>` as Slack does: form-encoded, no charset, signed. */
export async function slash(port: number, user: string, text: string, options: SlashOptions = {}) {
  const body = slashForm(user, text, options);
  const res = await fetch(`http://127.0.0.1:${port}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...sign(body, options.timestamp, options.secret) },
    body,
  });
  const raw = await res.text();
  let json: { text?: string; response_type?: string } | null = null;
  try {
    json = raw ? (JSON.parse(raw) as { text?: string }) : null;
  } catch {
    json = null;
  }
  if (json && res.status === 200) assertFits('response_url', json as Record<string, unknown>);
  return { status: res.status, raw, json, text: json?.text ?? '' };
}

/** Sends an interaction payload (button press, modal submission) as Slack does. */
export async function interact(port: number, payload: Record<string, unknown>) {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const res = await fetch(`http://127.0.0.1:${port}/slack/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...sign(body) },
    body,
  });
  const raw = await res.text();
  const json = raw ? (JSON.parse(raw) as Record<string, unknown>) : null;
  // A modal submission may answer with errors or a new view, which must fit as views.update's would; a message answer must fit.
  if (json && res.status === 200 && json.response_action === undefined) assertFits('response_url', json);
  if (json && res.status === 200 && (json.response_action === 'update' || json.response_action === 'push')) assertFits('views.update', { view: json.view });
  return { status: res.status, raw, json };
}

let pressCount = 0;

/** A button press as Slack sends it, from a message in `channel`. */
export function buttonPayload(user: string, actionId: string, value: string, channel = `D${user}`, hooks = HOOKS_HOST) {
  pressCount++;
  return {
    type: 'block_actions',
    team: { id: TEAM_ID, domain: 'acme' },
    user: { id: user, username: user.toLowerCase(), team_id: TEAM_ID },
    api_app_id: 'A0APP',
    trigger_id: `trigger-${user}-${pressCount}`,
    response_url: `${hooks}/actions/${pressCount}`,
    container: { type: 'message', channel_id: channel, message_ts: '1700000000.000100', is_ephemeral: false },
    channel: { id: channel, name: 'directmessage' },
    message: { type: 'message', ts: '1700000000.000100', text: '' },
    actions: [{ type: 'button', action_id: actionId, block_id: 'b1', value, action_ts: '1700000001.000200' }],
  };
}

/** Every button in a recorded message's blocks, by action id. */
export function buttonsIn(call: SlackCall): { actionId: string; value: string }[] {
  const found: { actionId: string; value: string }[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (o.type === 'button' && typeof o.action_id === 'string') found.push({ actionId: o.action_id, value: String(o.value ?? '') });
      Object.values(o).forEach(visit);
    }
  };
  visit(call.body.blocks);
  return found;
}
