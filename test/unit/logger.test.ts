import { MultipleListenerError, UnknownError } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { boltLogger, createLogger } from '../../src/logger.ts';

const KEY = 'jj_0123456789abcdef0123456789abcdef';
const BOT_TOKEN = 'xoxb-1234-5678-abcdefghijkl';
const APP_TOKEN = 'xapp-1-A123-456-abcdef';
const GH_TOKEN = 'ghp_abcdefghijklmnopqrstuvwxyz0123456789';
const PAT = 'github_pat_11ABCDEFG0123456789_abcdefghijklmnop';
const USER_TOKEN = 'gho_16C7e42F292c6912E7710c838347Ae178B4a';
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
const BUTTON = '0b9e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';
const SECRETS = [KEY, BOT_TOKEN, APP_TOKEN, GH_TOKEN, PAT, USER_TOKEN, 'MIIEowIBAAKCAQEA', BUTTON];

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: string[] = [];
  const log = createLogger(level, (line) => lines.push(line));
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes one JSON line per call with level name, ISO time, fields and message', () => {
    const { log, lines, parsed } = capture();
    log.child({ component: 'jobs' }).info('job done', { job: 7, kind: 'reminder' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    const [line] = parsed();
    expect(line).toMatchObject({ level: 'info', component: 'jobs', job: 7, kind: 'reminder', msg: 'job done' });
    expect(new Date(line!['time'] as string).toISOString()).toBe(line!['time']);
  });

  it('drops lines below the configured level', () => {
    const { log, parsed } = capture('warn');
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(parsed().map((l) => [l['level'], l['msg']])).toEqual([
      ['warn', 'w'],
      ['error', 'e'],
    ]);
  });

  it('blanks keys and tokens in messages, fields, child fields, errors and causes', () => {
    const { log, lines } = capture();
    const child = log.child({ note: `bound ${BOT_TOKEN}` });
    child.info(`message with ${KEY}`, { text: `free text ${APP_TOKEN} and ${GH_TOKEN}`, nested: { deep: [PAT, USER_TOKEN] } });
    child.error('failed', {
      error: new Error(`GitHub said ${USER_TOKEN}`, { cause: new Error(`pem ${PEM} and ${BUTTON}`) }),
    });
    const text = lines.join('\n');
    for (const secret of SECRETS) expect(text).not.toContain(secret);
    expect(text).toContain('jj_[redacted]');
    expect(text).toContain('[redacted private key]');
    expect(text).toContain('[redacted button value]');
  });

  it('blanks fields that hold a credential by name, whatever their value looks like', () => {
    const { log, parsed } = capture();
    log.info('request', { token: 'opaque-value-1', headers: { authorization: 'Basic b3BhcXVl' }, github: { access_token: 'opaque-2' } });
    const [line] = parsed();
    expect(line).toMatchObject({ token: '[redacted]', headers: { authorization: '[redacted]' }, github: { access_token: '[redacted]' } });
    expect(JSON.stringify(line)).not.toMatch(/opaque|b3BhcXVl/);
  });

  it('redacts each value on its own, so a pattern never spans two fields', () => {
    const { log, parsed } = capture();
    log.info('two fields', { first: 'ends -----BEGIN RSA PRIVATE KEY-----', middle: 'kept', last: '-----END RSA PRIVATE KEY----- starts' });
    expect(parsed()[0]).toMatchObject({ middle: 'kept' });
    expect(parsed()[0]!['last']).toContain('starts');
  });

  it('writes dates, bigints, cycles, deep nesting and odd keys without throwing or leaking', () => {
    const { log, parsed } = capture();
    const cycle: Record<string, unknown> = { name: KEY };
    cycle['self'] = cycle;
    let deep: Record<string, unknown> = { leaf: KEY };
    for (let i = 0; i < 50; i++) deep = { deeper: deep };
    const odd = JSON.parse(`{"__proto__": "${BOT_TOKEN}", "${KEY}": 1}`) as Record<string, unknown>;
    log.info('shapes', { when: new Date(Date.UTC(2026, 0, 2)), big: 10n ** 20n, cycle, deep, odd });
    const [line] = parsed();
    expect(line).toMatchObject({ when: '2026-01-02T00:00:00.000Z', big: '100000000000000000000', cycle: { name: 'jj_[redacted]', self: '[...]' } });
    expect(JSON.stringify(line)).toContain('[...]');
    expect(JSON.stringify(line)).not.toContain(KEY);
    expect(JSON.stringify(line)).not.toContain(BOT_TOKEN);
    expect(Object.getPrototypeOf(line!['odd'])).toBe(Object.prototype);
  });

  it('writes an unexpected error with its type, stack and cause chain', () => {
    const { log, parsed } = capture();
    const root = Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
    const error = new TypeError('could not write the rotation', { cause: root });
    log.error('job failed', { error });
    const logged = parsed()[0]!['error'] as Record<string, unknown>;
    expect(logged).toMatchObject({ type: 'TypeError', message: 'could not write the rotation' });
    expect(logged['stack']).toMatch(/TypeError: could not write the rotation\n\s+at /);
    expect(logged['cause']).toMatchObject({ type: 'Error', message: 'disk I/O error', code: 'SQLITE_IOERR' });
    expect((logged['cause'] as Record<string, unknown>)['stack']).toMatch(/disk I\/O error/);
  });

  it("writes the listener's own error, with its stack, under the wrappers Bolt hands its error handler", () => {
    const { log, parsed } = capture();
    const thrown = new RangeError(`listener broke on ${KEY}`);
    log.error('slack listener failed', { error: new UnknownError(thrown) });
    log.error('slack listener failed', { error: new MultipleListenerError([thrown, new Error('second')]) });
    const [one, many] = parsed().map((l) => l['error'] as Record<string, unknown>);
    expect(one!['cause']).toMatchObject({ type: 'RangeError', message: 'listener broke on jj_[redacted]' });
    expect((one!['cause'] as Record<string, unknown>)['stack']).toMatch(/RangeError: listener broke on jj_\[redacted\]\n\s+at .*logger\.test\.ts/);
    expect(many!['originals']).toMatchObject([{ type: 'RangeError' }, { type: 'Error', message: 'second' }]);
    expect(JSON.stringify(parsed())).not.toContain(KEY);
  });

  it('keeps a Slack error code and leaves out the rest of an error object', () => {
    const { log, parsed } = capture();
    const error = Object.assign(new Error('An API error occurred: channel_not_found'), {
      code: 'slack_webapi_platform_error',
      data: { ok: false, error: 'channel_not_found', response_metadata: { scopes: ['chat:write'] } },
      request: { headers: { authorization: 'Bearer secret-header-value' } },
    });
    log.warn('post failed', { error });
    const logged = parsed()[0]!['error'] as Record<string, unknown>;
    expect(logged).toMatchObject({ code: 'slack_webapi_platform_error', slack: 'channel_not_found' });
    expect(JSON.stringify(logged)).not.toContain('secret-header-value');
  });

  it('follows a cycle of causes only a few levels deep', () => {
    const { log, parsed } = capture();
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    log.error('loop', { error: a });
    expect(JSON.stringify(parsed()[0]).match(/"message"/g)!.length).toBeLessThanOrEqual(7);
  });

  it("redacts what Bolt and the Web API client log through it", () => {
    const { log, lines } = capture();
    const bolt = boltLogger(log, 'debug');
    bolt.debug(`http request body: {"token":"${BOT_TOKEN}","text":"${KEY}"}`);
    bolt.error(new Error(`socket failed for ${APP_TOKEN}`));
    for (const secret of SECRETS) expect(lines.join('\n')).not.toContain(secret);
    expect(lines.map((l) => (JSON.parse(l) as { component: string }).component)).toEqual(['bolt', 'bolt']);
  });
});
