/**
 * API keys of a project. The plaintext exists only in the return value of
 * `issueKey`, on its way to the one-time delivery; the database keeps the
 * SHA-256 and a display form.
 */
import { fail, ok, type Result } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { storableText } from '../core/secrets.ts';
import { displayKey, hashKey, KEY_ID_PATTERN, mintKey, newKeyId } from '../core/keys.ts';
import type { Selectable } from 'kysely';
import type { Db } from '../db/database.ts';
import type { ApiKeysTable } from '../db/schema.ts';
import { authorize, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import type { Actor, Scheduler, ServiceContext } from './context.ts';
import { expirePendingApprovals } from './approvals.ts';
import { createDelivery, type DeliveryTicket } from './deliveries.ts';

export interface ApiKey {
  readonly id: number;
  readonly publicId: string;
  readonly projectId: number;
  readonly name: string;
  readonly display: string;
  readonly createdBy: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/** A freshly minted key: the only place its plaintext exists. */
export interface IssuedKey {
  readonly key: ApiKey;
  readonly plaintext: string;
}

const MAX_ACTIVE_KEYS = LIMITS.activeKeysPerProject;

type KeyRow = Pick<Selectable<ApiKeysTable>, (typeof KEY_COLUMNS)[number]>;

const toKey = (r: KeyRow): ApiKey => ({
  id: r.id,
  publicId: r.public_id,
  projectId: r.project_id,
  name: r.name,
  display: r.display,
  createdBy: r.created_by,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  revokedAt: r.revoked_at,
});

const KEY_COLUMNS = [
  'id',
  'public_id',
  'project_id',
  'name',
  'display',
  'created_by',
  'created_at',
  'last_used_at',
  'revoked_at',
] as const;

/** Mints and stores a key; call inside the use case's transaction. */
export async function issueKey(db: Db, at: number, project: Project, name: string, createdBy: string): Promise<IssuedKey> {
  const plaintext = mintKey();
  // Ids are short enough to type, so two keys of a large workspace can draw the same one.
  let publicId = newKeyId();
  while (await db.get(db.q.selectFrom('api_keys').select('id').where('public_id', '=', publicId))) publicId = newKeyId();
  const row = (await db.get(
    db.q
      .insertInto('api_keys')
      .values({
        public_id: publicId,
        project_id: project.id,
        name,
        hash: hashKey(plaintext),
        display: displayKey(plaintext),
        created_by: createdBy,
        created_at: at,
      })
      .returning(KEY_COLUMNS),
  ))!;
  const key = toKey(row);
  await recordEvent(db, at, {
    projectId: project.id,
    actor: createdBy,
    action: 'key.created',
    details: { key: key.publicId, name, display: key.display },
  });
  return { key, plaintext };
}

export async function activeKeys(db: Db, projectId: number): Promise<ApiKey[]> {
  return (await db
    .all(
      db.q
        .selectFrom('api_keys')
        .select(KEY_COLUMNS)
        .where('project_id', '=', projectId)
        .where('revoked_at', 'is', null)
        .orderBy('id'),
    ))
    .map(toKey);
}

export async function findKey(db: Db, projectId: number, publicId: string): Promise<ApiKey | null> {
  const row = await db.get(
    db.q.selectFrom('api_keys').select(KEY_COLUMNS).where('project_id', '=', projectId).where('public_id', '=', publicId),
  );
  return row ? toKey(row) : null;
}

export async function keyById(db: Db, id: number): Promise<ApiKey | null> {
  const row = await db.get(db.q.selectFrom('api_keys').select(KEY_COLUMNS).where('id', '=', id));
  return row ? toKey(row) : null;
}

/** `keys create`: a new key next to the existing ones. */
export async function createKey(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  label: string,
): Promise<Result<NewKey>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'manage_keys');
    if (!access.ok) return access;
    const { project } = access.value;
    if ((await activeKeys(db, project.id)).length >= MAX_ACTIVE_KEYS) {
      return fail('conflict', tooManyKeys(name));
    }
    // A label is shown in lists, DMs and the audit trail: a key pasted into it is never stored.
    return ok(await issueDeliveredKey(ctx, project, storableText(label), actor.userId));
  });
}

/** The refusal when a project is at its bound of active keys. */
export function tooManyKeys(name: string): string {
  return `\`${name}\` already has ${MAX_ACTIVE_KEYS} active keys, the most a project may hold; revoke one first.`;
}

/** A new key on its way to one person: the plaintext is sealed into the delivery and dropped. */
export interface NewKey {
  readonly project: Project;
  readonly key: ApiKey;
  readonly ticket: DeliveryTicket;
}

/** Mints a key and seals it for `userId`'s one-time reveal; call inside the use case's transaction. */
export async function issueDeliveredKey(ctx: ServiceContext, project: Project, label: string, userId: string): Promise<NewKey> {
  const { key, plaintext } = await issueKey(ctx.db, ctx.now(), project, label, userId);
  return { project, key, ticket: await createDelivery(ctx, key.id, userId, plaintext) };
}

/** Every key of a project, newest first, revoked ones included. */
export async function listKeys(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<{ project: Project; keys: ApiKey[] }>> {
  const { db } = ctx;
  const access = await authorize(db, actor, name, 'view');
  if (!access.ok) return access;
  const { project } = access.value;
  const keys = (await db
    .all(db.q.selectFrom('api_keys').select(KEY_COLUMNS).where('project_id', '=', project.id).orderBy('id', 'desc')))
    .map(toKey);
  return ok({ project, keys });
}

/**
 * Marks a key revoked; the very next request with it is refused. Everything
 * still waiting on the key ends with it, so no button or job acts on it
 * later: a rotation in its overlap that involves it is finished (revoked
 * when it was the old key; kept, that is abandoned, when it was the new one),
 * its pending approval requests expire (their cards are refreshed when
 * `jobs` is given), and its sealed delivery is wiped. Call inside a transaction.
 */
export async function revokeKeyRow(db: Db, at: number, key: ApiKey, actor: string, reason: string, jobs?: Scheduler): Promise<boolean> {
  const { changes } = await db.run(
    db.q
      .updateTable('api_keys')
      .set({ revoked_at: at, revoked_by: actor })
      .where('id', '=', key.id)
      .where('revoked_at', 'is', null),
  );
  if (changes === 0) return false;
  await recordEvent(db, at, {
    projectId: key.projectId,
    actor,
    action: 'key.revoked',
    details: { key: key.publicId, display: key.display, reason },
  });
  for (const [column, state] of [['old_key_id', 'revoked'], ['new_key_id', 'kept']] as const) {
    const closed = await db.all(
      db.q
        .updateTable('rotations')
        .set({ state, finished_at: at, finished_by: actor })
        .where(column, '=', key.id)
        .where('state', '=', 'overlap')
        .returning('id'),
    );
    for (const { id } of closed) {
      await recordEvent(db, at, {
        projectId: key.projectId,
        actor,
        action: state === 'revoked' ? 'key.rotation_completed' : 'key.rotation_kept_both',
        details: { rotation: id, key_revoked: key.publicId },
      });
    }
  }
  await expirePendingApprovals(db, at, { projectId: key.projectId, keyId: key.id }, actor, { key_revoked: key.publicId }, jobs);
  // A revoked key is of no use to anyone: its one-time reveal and its GitHub retries end here.
  await db.run(db.q.updateTable('key_deliveries').set({ ciphertext: null }).where('key_id', '=', key.id));
  return true;
}

export async function revokeKey(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  publicId: string,
): Promise<Result<{ project: Project; key: ApiKey }>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'manage_keys');
    if (!access.ok) return access;
    const { project } = access.value;
    const key = KEY_ID_PATTERN.test(publicId) ? await findKey(db, project.id, publicId) : null;
    if (!key) return fail('not_found', `\`${name}\` has no key \`${publicId}\`; see \`/jamjet keys list ${name}\`.`);
    if (key.revokedAt !== null) return fail('already_done', `Key \`${publicId}\` of \`${name}\` is already revoked.`);
    await revokeKeyRow(db, ctx.now(), key, actor.userId, 'manual', ctx.jobs);
    return ok({ project, key });
  });
}
