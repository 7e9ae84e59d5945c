import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.ts';
import { BOT_USER, FakeSlack } from '../helpers/slack.ts';
import { SdkClient } from '../helpers/sdk-client.ts';
import { readiness, reveal, run, waitForCall } from './keys-flow.ts';

const OWNER = 'U0OWNER';
const MEMBER = 'U0MEMBER';
const READER = 'U0READER';
const OUTSIDER = 'U0OUTSIDE';
const OTHER_OWNER = 'U0OTHER';
const CHANNEL = 'C0APPROVALS';

let t: TestApp;
let key: string;
let otherKey: string;
let sdk: SdkClient;

const ruleIdIn = (text: string) => /pol_[0-9a-f]{8}/.exec(text)?.[0] ?? '';
const get = async (path: string, apiKey: string | null = key) => {
  const res = await fetch(`http://127.0.0.1:${t.port}${path}`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
};

beforeEach(async () => {
  const slack = new FakeSlack();
  for (const id of [OWNER, MEMBER, READER, OUTSIDER, OTHER_OWNER]) slack.addUser({ id, email: `${id}@acme.test` });
  slack.addChannel({ id: CHANNEL, members: [BOT_USER, OWNER, MEMBER] });
  t = await startTestApp({ slack, env: { JOBS_POLL_SECONDS: '3600' } });
  await run(t, OWNER, 'projects create payments');
  key = await reveal(t, OWNER);
  await run(t, OWNER, `members invite payments <@${MEMBER}> member`);
  await run(t, OWNER, `members invite payments <@${READER}> read_only`);
  const from = t.slack.calls.length;
  await run(t, OTHER_OWNER, 'projects create search');
  otherKey = await reveal(t, OTHER_OWNER, from);
  sdk = new SdkClient(`http://127.0.0.1:${t.port}`, key, 'payments');
});
afterEach(async () => {
  await t.stop();
});

describe('a rule added in Slack is enforced by an SDK at its next sync', () => {
  it('block, allow and require_approval, first match wins, and a move is seen on the next sync', async () => {
    expect(await sdk.sync()).toBe(200);
    expect(sdk.evaluate('payments.refund').decision).toBe('ALLOWED');

    const blocked = await run(t, MEMBER, 'policies add payments block payments.*');
    expect(blocked.text).toContain('Added to `payments`');
    expect(blocked.text).toContain('`payments.*`');
    const allowed = await run(t, MEMBER, 'policies add payments allow payments.read --position 1');
    const approval = await run(t, OWNER, 'Policies Add payments require_approval *');
    for (const reply of [allowed, approval]) expect(reply.text).toMatch(/pol_[0-9a-f]{8}/);

    // Not yet synced: the SDK still has the rules of its last sync.
    expect(sdk.evaluate('payments.refund').decision).toBe('ALLOWED');
    expect(await sdk.sync()).toBe(200);
    expect(sdk.evaluate('payments.refund')).toEqual({ decision: 'BLOCKED', rule: { action: 'block', pattern: 'payments.*' } });
    expect(sdk.evaluate('payments.read').decision).toBe('ALLOWED');
    expect(sdk.evaluate('shell.exec')).toEqual({ decision: 'WAITING_FOR_APPROVAL', rule: { action: 'require_approval', pattern: '*' } });

    const { json } = await get('/v1/projects/payments/policies');
    expect(json).toEqual({
      rules: [
        { id: ruleIdIn(allowed.text), action: 'allow', pattern: 'payments.read' },
        { id: ruleIdIn(blocked.text), action: 'block', pattern: 'payments.*' },
        { id: ruleIdIn(approval.text), action: 'require_approval', pattern: '*' },
      ],
    });

    // The catch-all moved first: everything now waits for approval, payments.read too.
    const moved = await run(t, MEMBER, `policies move payments ${ruleIdIn(approval.text)} 1`);
    expect(moved.text).toContain('from position 3');
    await sdk.sync();
    expect(sdk.evaluate('payments.read').decision).toBe('WAITING_FOR_APPROVAL');

    await run(t, MEMBER, `policies remove payments ${ruleIdIn(approval.text)}`);
    await sdk.sync();
    expect(sdk.evaluate('payments.read').decision).toBe('ALLOWED');
    expect(sdk.evaluate('payments.refund').decision).toBe('BLOCKED');

    const list = await run(t, READER, 'policies list payments');
    expect(list.text.split('\n').slice(1)).toEqual([
      `1. *allow* \`payments.read\` \`${ruleIdIn(allowed.text)}\``,
      `2. *block* \`payments.*\` \`${ruleIdIn(blocked.text)}\``,
    ]);
  });

  it('each change is announced in the approvals channel once one is set', async () => {
    await run(t, OWNER, 'policies add payments block quiet.*');
    await run(t, OWNER, `projects channel payments <#${CHANNEL}|approvals>`);
    const from = t.slack.calls.length;
    await run(t, MEMBER, 'policies add payments block db.drop*');
    const post = await waitForCall(t, from, (c) => c.method === 'chat.postMessage' && c.body.channel === CHANNEL);
    expect(String(post.body.text)).toContain(`<@${MEMBER}> added policy rule 2 of \`payments\``);
    expect(String(post.body.text)).toContain('`db.drop*`');
    expect(t.slack.calls.some((c) => c.method === 'chat.postMessage' && String(c.body.text).includes('quiet.*'))).toBe(false);
  });
});

describe('changes landing at once (through two replicas on PostgreSQL)', () => {
  it('keeps every rule and positions 1..n without gaps, and every SDK read sees the same order', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) => run(t, i % 2 ? OWNER : MEMBER, `policies add payments block t${i} --position 1`)));
    const first = ((await get('/v1/projects/payments/policies')).json.rules as { id: string; pattern: string }[]);
    expect(new Set(first.map((r) => r.pattern)).size).toBe(8);
    const ids = first.map((r) => r.id);
    await Promise.all([
      run(t, OWNER, `policies move payments ${ids[7]} 1`),
      run(t, MEMBER, `policies remove payments ${ids[0]}`),
      run(t, OWNER, 'policies add payments allow late --position 2'),
      run(t, MEMBER, `policies move payments ${ids[3]} 7`),
    ]);
    const rows = (await t.app.db.raw('SELECT position FROM policy_rules ORDER BY position')) as { position: number | string }[];
    expect(rows.map((r) => Number(r.position))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Each replica (the balancer alternates) answers the same order, its cache forgotten after the last change.
    const reads = await Promise.all([1, 2, 3, 4].map(async () => JSON.stringify((await get('/v1/projects/payments/policies')).json)));
    expect(new Set(reads).size).toBe(1);
  });
});

describe('globs as people type them in Slack', () => {
  it('keeps `*` and `?` as typed, drops smart quotes around a glob, and reads `--position=N`', async () => {
    await run(t, OWNER, 'policies add payments block “db.*”');
    await run(t, OWNER, "policies add payments allow ‘db.?ead’ —position=1");
    await run(t, OWNER, 'policies add payments require_approval *');
    const { json } = await get('/v1/projects/payments/policies');
    expect((json.rules as { pattern: string }[]).map((r) => r.pattern)).toEqual(['db.?ead', 'db.*', '*']);
  });
});

describe('Slack refusals: one sentence and the usage line, nothing changes', () => {
  it.each([
    ['policies add payments deny x', '`deny` is not a rule action', 'policies add <project>'],
    ['policies add payments blok x', 'Did you mean `block`?', 'policies add <project>'],
    ['policies add payments block tool[0-9]', 'the SDKs disagree', 'policies add <project>'],
    ['policies add payments block "two words"', 'a space', 'policies add <project>'],
    ['policies add payments block x --position 0', 'whole number from 1', 'policies add <project>'],
    ['policies add payments block x --position two', 'whole number from 1', 'policies add <project>'],
    ['policies add payments block x --position 5', 'position 5 does not exist', 'policies add <project>'],
    ['policies add payments block', 'Missing <pattern>', 'policies add <project>'],
    ['policies remove payments pol_00000000', 'has no policy rule `pol_00000000`', 'policies remove <project> <rule-id>'],
    ['policies move payments pol_00000000 x', 'whole number from 1', 'policies move <project> <rule-id> <position>'],
    ['policies lst payments', 'Did you mean `policies list`?', 'policies list|add|remove|move'],
  ])('%s', async (text, said, usage) => {
    const reply = await run(t, OWNER, text);
    expect(reply.text).toContain(said);
    expect(reply.text).toContain(`Usage: \`/jamjet ${usage}`);
    expect(await t.app.db.raw('SELECT count(*) AS n FROM policy_rules')).toEqual([{ n: 0 }]);
  });

  it('a Read-only member and an outsider may not add; the outsider learns nothing', async () => {
    expect((await run(t, READER, 'policies add payments block x')).text).toContain('Member or above');
    expect((await run(t, OUTSIDER, 'policies add payments block x')).text).toContain('You have no access to project `payments`, or it does not exist.');
    expect((await run(t, OUTSIDER, 'policies list payments')).text).toContain('You have no access to project `payments`, or it does not exist.');
    expect(await t.app.db.raw('SELECT count(*) AS n FROM policy_rules')).toEqual([{ n: 0 }]);
  });

  it('a rule id of another project is refused as unknown', async () => {
    const theirs = ruleIdIn((await run(t, OTHER_OWNER, 'policies add search block x')).text);
    const reply = await run(t, OWNER, `policies remove payments ${theirs}`);
    expect(reply.text).toContain(`\`payments\` has no policy rule \`${theirs}\``);
    expect(await t.app.db.raw('SELECT count(*) AS n FROM policy_rules')).toEqual([{ n: 1 }]);
  });
});

describe('the policy endpoints', () => {
  beforeEach(async () => {
    await run(t, OWNER, 'policies add payments block payments.*');
    await run(t, OWNER, 'policies add payments require_approval shell');
    await run(t, OWNER, 'policies add payments block db.*');
    await run(t, OTHER_OWNER, 'policies add search allow *');
  });

  it('answers another project\'s key 403 and a missing, unknown or revoked key 401', async () => {
    expect((await get('/v1/projects/payments/policies', otherKey)).status).toBe(403);
    expect((await get('/v1/projects/payments/policies', otherKey)).json).toEqual({ error: { code: 'forbidden', message: 'This API key belongs to another project.' } });
    expect((await get('/v1/projects/nowhere/policies')).status).toBe(403);
    const missing = await get('/v1/projects/payments/policies', null);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect((await get('/v1/policies?kind=block', `jj_${'0'.repeat(32)}`)).status).toBe(401);
    const keyId = ((await (await readiness(t, 'payments', key)).json()) as { key_id: string }).key_id;
    await run(t, OWNER, `keys revoke payments ${keyId}`);
    const revoked = await get('/v1/projects/payments/policies');
    expect(revoked.status).toBe(401);
    expect(revoked.json).toMatchObject({ error: { code: 'unauthorized' } });
    expect((await get('/v1/policies?kind=block&active=true')).status).toBe(401);
  });

  it('filters by kind in precedence order; unknown kinds give []; no kind gives every rule', async () => {
    const block = await get('/v1/policies?kind=block&active=true');
    expect(block.status).toBe(200);
    expect((block.json.policies as { kind: string; pattern: string }[]).map((p) => [p.kind, p.pattern])).toEqual([
      ['block', 'payments.*'],
      ['block', 'db.*'],
    ]);
    expect((block.json.policies as { id: string }[]).every((p) => /^pol_[0-9a-f]{8}$/.test(p.id))).toBe(true);
    expect((await sdk.policiesOfKind('require_approval')).body).toEqual({ policies: [expect.objectContaining({ kind: 'require_approval', pattern: 'shell' })] });
    for (const kind of ['cache_inject', 'tool_compaction', 'BLOCK', '']) {
      expect(await sdk.policiesOfKind(kind), kind).toEqual({ status: 200, body: { policies: [] } });
    }
    expect(((await get('/v1/policies')).json.policies as unknown[]).length).toBe(3);
    expect((await get('/v1/policies?kind=block&active=false')).json).toEqual({ policies: [] });
    expect((await get('/v1/policies?kind=block&active=maybe')).json).toMatchObject({ error: { code: 'invalid_request' } });
    // The other project's key gets its own rules only.
    expect((await get('/v1/policies?kind=allow&active=true', otherKey)).json).toEqual({ policies: [expect.objectContaining({ pattern: '*' })] });
    expect((await get('/v1/policies?kind=block&active=true', otherKey)).json).toEqual({ policies: [] });
  });

  it('records the key\'s last use', async () => {
    await t.app.db.raw('UPDATE api_keys SET last_used_at = NULL');
    await get('/v1/projects/payments/policies');
    await vi.waitFor(async () => {
      const rows = (await t.app.db.raw('SELECT last_used_at AS at FROM api_keys WHERE last_used_at IS NOT NULL')) as unknown[];
      expect(rows.length).toBeGreaterThan(0);
    }, { timeout: 5000, interval: 20 });
  });
});
