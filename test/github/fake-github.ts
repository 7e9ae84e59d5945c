/**
 * GitHub's Actions secrets API as the store sees it in tests: nock answers the
 * public-key, PUT and read-back calls for one target, records each request,
 * and holds the private half of the key so a test can open the sealed box.
 */
import nock from 'nock';
import sodium from 'libsodium-wrappers';
import type { SecretTarget } from '../../src/github/index.ts';

export const TOKEN = 'ghp_' + 'T0kenT0kenT0kenT0kenT0kenT0kenT0ken1'.slice(0, 36);
export const VALUE = 'jj_0123456789abcdef0123456789abcdef';
export const UPDATED_AT = '2025-11-28T05:00:00Z';
export const NO_RETRY = { retry: { enabled: false }, throttle: { enabled: false } };

/** `reach`: an organisation secret's visibility, read before each write. */
export type Step = 'public_key' | 'reach' | 'write' | 'read_back';

export interface Recorded {
  step: Step;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** Paths under the API root, the way Octokit 22 spells them. */
export function pathsFor(target: SecretTarget): { publicKey: string; secret: string } {
  const name = encodeURIComponent(target.secretName);
  const root =
    target.kind === 'org'
      ? `/orgs/${target.org}/actions/secrets`
      : target.kind === 'repo'
        ? `/repos/${target.owner}/${target.repo}/actions/secrets`
        : `/repos/${target.owner}/${target.repo}/environments/${encodeURIComponent(target.environment)}/secrets`;
  return { publicKey: `${root}/public-key`, secret: `${root}/${name}` };
}

export class FakeGitHub {
  readonly calls: Recorded[] = [];
  readonly keyId = '568250167242549743';
  private keys!: { publicKey: Uint8Array; privateKey: Uint8Array };

  /** `apiUrl` as given to the store, e.g. http://ghe.test/api/v3. */
  constructor(private readonly apiUrl: string) {}

  async init(): Promise<this> {
    await sodium.ready;
    this.keys = sodium.crypto_box_keypair();
    return this;
  }

  get publicKeyBase64(): string {
    return sodium.to_base64(this.keys.publicKey, sodium.base64_variants.ORIGINAL);
  }

  /**
   * Answers the three calls for `target` in order. `answers` replaces a step's
   * answer; steps after a replaced one are not served, so reaching them would
   * be an unmatched request.
   */
  serve(target: SecretTarget, answers: Partial<Record<Step, Answer>> = {}): this {
    const { origin, pathname } = new URL(this.apiUrl);
    const base = pathname.replace(/\/$/, '');
    const paths = pathsFor(target);
    const readBack = { name: target.secretName.toUpperCase(), created_at: UPDATED_AT, updated_at: UPDATED_AT };
    const steps: [Step, 'get' | 'put', string, [number, unknown]][] = [
      ['public_key', 'get', paths.publicKey, [200, { key_id: this.keyId, key: this.publicKeyBase64 }]],
      // An organisation secret the bot creates: it does not exist yet.
      ...(target.kind === 'org' ? [['reach', 'get', paths.secret, [404, { message: 'Not Found' }]] as [Step, 'get', string, [number, unknown]]] : []),
      ['write', 'put', paths.secret, [201, {}]],
      ['read_back', 'get', paths.secret, [200, readBack]],
    ];
    const calls = this.calls;
    for (const [step, method, path, ok] of steps) {
      nock(origin)[method](base + path).reply(function (uri, body) {
        const json = typeof body === 'object' ? (body as Record<string, unknown>) : undefined;
        calls.push({ step, method: method.toUpperCase(), path: uri, headers: this.req.headers, body: json });
        const answer = answers[step];
        return answer ? [answer.status, answer.body ?? { message: 'error' }, answer.headers ?? {}] : ok;
      });
      if (answers[step]) break;
    }
    return this;
  }

  /** Opens a sealed box the store produced, as GitHub would. */
  open(encryptedValue: string): string {
    const sealed = sodium.from_base64(encryptedValue, sodium.base64_variants.ORIGINAL);
    return sodium.to_string(sodium.crypto_box_seal_open(sealed, this.keys.publicKey, this.keys.privateKey));
  }
}

/** Counts requests nock had no answer for (with net connect disabled, they fail). */
export function countUnmatched(): { readonly count: number; stop(): void } {
  let count = 0;
  const onNoMatch = () => void count++;
  nock.emitter.on('no match', onNoMatch);
  return {
    get count() {
      return count;
    },
    stop: () => void nock.emitter.removeListener('no match', onNoMatch),
  };
}
