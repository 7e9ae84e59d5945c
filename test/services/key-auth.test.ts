import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../src/db/database.ts';
import { findLiveProject } from '../../src/services/access.ts';
import { authenticateKey } from '../../src/services/key-auth.ts';
import { issueKey, revokeKey } from '../../src/services/keys.ts';
import { createProjects, deleteProject } from '../../src/services/projects.ts';
import { testSqliteDb, user } from '../helpers/db.ts';
import { JobQueue } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/logger.ts';
import type { ServiceContext } from '../../src/services/context.ts';

const owner = user('UOWNER');
let db: Db;
let other: Db;
let ctx: ServiceContext;
let key: { publicId: string; plaintext: string };

beforeEach(async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'jamjet-keyauth-')), 'jamjet.db');
  db = await testSqliteDb(file);
  other = openDb(file);
  const now = () => Date.UTC(2026, 10, 28);
  ctx = { db, now, jobs: new JobQueue(db, now, createLogger('error', () => {})) };
  await createProjects(ctx, owner, 'payments', null);
  const issued = await issueKey(db, now(), (await findLiveProject(db, 'payments'))!, 'ci', owner.userId);
  key = { publicId: issued.key.publicId, plaintext: issued.plaintext };
});
afterEach(async () => {
  await other.close();
  await db.close();
});

describe('the key check remembers known keys only while nothing changed', () => {
  it('answers from memory, and forgets at once when this process revokes the key', async () => {
    expect((await authenticateKey(db, key.plaintext))?.projectName).toBe('payments');
    expect((await authenticateKey(db, key.plaintext))?.publicId).toBe(key.publicId);
    expect((await revokeKey(ctx, owner, 'payments', key.publicId)).ok).toBe(true);
    expect(await authenticateKey(db, key.plaintext)).toBeNull();
  });

  it('forgets at once when another process on the same file revokes the key', async () => {
    expect(await authenticateKey(db, key.plaintext)).not.toBeNull();
    await other.raw('UPDATE api_keys SET revoked_at = 1, revoked_by = ? WHERE public_id = ?', ['UOTHER', key.publicId]);
    expect(await authenticateKey(db, key.plaintext)).toBeNull();
  });

  it('forgets a key whose project was deleted', async () => {
    expect(await authenticateKey(db, key.plaintext)).not.toBeNull();
    expect((await deleteProject(ctx, owner, 'payments', 'payments')).ok).toBe(true);
    expect(await authenticateKey(db, key.plaintext)).toBeNull();
  });

  it('never remembers an unknown key: one created later by another process works at once', async () => {
    const later = 'jj_' + 'c'.repeat(32);
    expect(await authenticateKey(db, later)).toBeNull();
    await other.raw("INSERT INTO api_keys (public_id, project_id, name, hash, display, created_by, created_at) VALUES ('key_0000abcd', 1, 'x', ?, 'jj_cccc…cccc', 'U', 0)", [createHash('sha256').update(later).digest('hex')]);
    expect((await authenticateKey(db, later))?.publicId).toBe('key_0000abcd');
  });
});

describe('Db.cached', () => {
  it('does not remember what it read inside a transaction that is then rolled back', async () => {
    const read = async () => await db.cached('count', async () => ((await db.raw('SELECT count(*) AS n FROM projects'))[0] as { n: number }).n);
    await expect(db.transaction(async () => {
        await createProjects(ctx, owner, 'ghost', null);
        expect(await read()).toBe(2);
        throw new Error('roll back');
      })).rejects.toThrow('roll back');
    expect(await read()).toBe(1);
  });
});
