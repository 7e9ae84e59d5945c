import { sql, type Kysely } from 'kysely';
import { autoId, engineOf, types } from './engine.ts';

// A project's policy rules (docs/ARCHITECTURE.md, sections 4, 5 and 8): `block`, `allow` or
// `require_approval` over a tool-name glob, in precedence order (`position`
// 1, 2, ... with no gaps; the first rule whose glob matches a tool decides).
// `public_id` (`pol_` + 8 hex) is what people type and what the SDKs get as
// `id`. Rules go with their project. Both the SDK API (through Db.cached) and
// the commands read them, so on PostgreSQL their changes are announced like
// every other table's (the trigger of migration 010).
export async function up(db: Kysely<any>): Promise<void> {
  const t = types(db);
  await db.schema
    .createTable('policy_rules')
    .addColumn('id', ...autoId(db))
    .addColumn('public_id', 'text', (c) => c.notNull().unique())
    .addColumn('project_id', t.integer, (c) => c.notNull().references('projects.id').onDelete('cascade'))
    .addColumn('action', 'text', (c) => c.notNull().check(sql`action IN ('block', 'allow', 'require_approval')`))
    .addColumn('pattern', 'text', (c) => c.notNull())
    .addColumn('position', t.integer, (c) => c.notNull().check(sql`"position" >= 1`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', t.integer, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('policy_rules_project').on('policy_rules').columns(['project_id', 'position']).execute();
  if (engineOf(db) === 'postgres') {
    await sql`CREATE TRIGGER policy_rules_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON policy_rules
      FOR EACH STATEMENT EXECUTE FUNCTION jamjet_announce_change()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  // The trigger goes with its table.
  await db.schema.dropTable('policy_rules').execute();
}

