/**
 * Slack failing on purpose: the next calls to a Web API method that match a
 * rule get the failures queued for them (HTTP 429 with Retry-After, HTTP
 * 500), then the normal answer. Records which calls Slack took and which it
 * refused, with the test clock at each call, so a drill can count deliveries
 * and check the retry times.
 */
import type { FakeSlack } from '../helpers/slack.ts';

export type Failure = [number, Record<string, unknown>] | [number, Record<string, unknown>, Record<string, string>];

export const rateLimited = (seconds: number): Failure => [429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(seconds) }];
export const serverError: Failure = [500, { ok: false, error: 'internal_error' }];

export interface Attempt {
  readonly method: string;
  readonly body: Record<string, unknown>;
  /** The app's clock when Slack got the call. */
  readonly at: number;
  /** 200 when Slack took it. */
  readonly status: number;
  /** Seconds of Retry-After on a 429. */
  readonly retryAfter?: number;
}

type Body = Record<string, unknown>;

interface Rule {
  readonly match: (body: Body) => boolean;
  readonly failures: Failure[];
}

let ts = 1_800_000_000;
const ANSWERS: Record<string, (b: Body) => Body> = {
  'chat.postMessage': (b) => ({ ok: true, channel: String(b.channel).replace(/^U/, 'D'), ts: `${ts++}.000200` }),
  'chat.update': (b) => ({ ok: true, channel: b.channel, ts: b.ts }),
  'views.open': () => ({ ok: true, view: { id: 'V1' } }),
};

export class FlakySlack {
  readonly attempts: Attempt[] = [];
  private readonly rules = new Map<string, Rule[]>();

  /** Takes over the answers to chat.postMessage, chat.update and views.open of `slack`. */
  constructor(slack: FakeSlack, private readonly now: () => number) {
    for (const [method, answer] of Object.entries(ANSWERS)) {
      this.rules.set(method, []);
      slack.on(method, (body) => {
        const rule = this.rules.get(method)!.find((r) => r.failures.length > 0 && r.match(body));
        const failure = rule?.failures.shift();
        const retryAfter = failure?.[2]?.['retry-after'];
        this.attempts.push({ method, body, at: this.now(), status: failure ? failure[0] : 200, ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}) });
        return failure ?? answer(body);
      });
    }
  }

  /** The next calls to `method` that match get `failures`, one each, in order. */
  fail(method: string, failures: Failure[], match: (body: Body) => boolean = () => true): this {
    const rules = this.rules.get(method);
    if (!rules) throw new Error(`no normal answer for ${method}`);
    rules.push({ match, failures: [...failures] });
    return this;
  }

  /** Calls to `method` that Slack took, optionally only those that match. */
  delivered(method: string, match: (body: Body) => boolean = () => true): Attempt[] {
    return this.attempts.filter((a) => a.method === method && a.status === 200 && match(a.body));
  }

  /** Every call to `method` that matches, taken or refused, in order. */
  tries(method: string, match: (body: Body) => boolean): Attempt[] {
    return this.attempts.filter((a) => a.method === method && match(a.body));
  }

  /** Failures queued and not yet handed out. */
  get pending(): number {
    return [...this.rules.values()].flat().reduce((n, r) => n + r.failures.length, 0);
  }
}

/** Mentions `text` anywhere in a call body (text or blocks). */
export const mentions = (text: string) => (body: Body) => JSON.stringify(body).includes(text);
