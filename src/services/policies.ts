/**
 * A project's policy rules (docs/ARCHITECTURE.md, sections 4, 5 and 8): an ordered list the
 * JamJet SDKs fetch and enforce, first match wins. Every role can list them;
 * Members and above change them (the `governance` permission). Positions are
 * 1..n without gaps; each change renumbers inside its transaction, which on
 * PostgreSQL is serialised with every other replica's writes, so two changes
 * at once leave a dense, correct order. Each change is audited and, when the
 * project has an approvals channel, announced there by a job (paced like
 * every post to Slack).
 */
import { fail, ok, type Result } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { isPolicyAction, newRuleId, patternProblem, POLICY_ACTIONS, RULE_ID_PATTERN, type PolicyAction } from '../core/policies.ts';
import type { Db } from '../db/database.ts';
import { authorize, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import type { Actor, ServiceContext } from './context.ts';

/** The job that announces a change of rules in the project's approvals channel (src/jobs/policy-handlers.ts). */
export const POLICY_ANNOUNCE_JOB = 'policies.announce';

export interface PolicyRule {
  /** `pol_` + 8 hex. */
  readonly publicId: string;
  readonly action: PolicyAction;
  readonly pattern: string;
  /** 1 for the rule consulted first. */
  readonly position: number;
  readonly createdBy: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

/** What the announcement job needs: the change, told in the product's terms, not Slack's. */
export interface PolicyChangeNotice {
  readonly project: number;
  readonly actor: string;
  readonly change: 'added' | 'removed' | 'moved';
  readonly rule: string;
  readonly action: PolicyAction;
  readonly pattern: string;
  /** The rule's position after the change (before it, for a removal). */
  readonly position: number;
  /** For a move: where the rule was. */
  readonly from?: number;
}

type RuleRow = { public_id: string; action: PolicyAction; pattern: string; position: number; created_by: string; created_at: number };

const toRule = (r: RuleRow): PolicyRule => ({
  publicId: r.public_id,
  action: r.action,
  pattern: r.pattern,
  position: Number(r.position),
  createdBy: r.created_by,
  createdAt: Number(r.created_at),
});

const ruleColumns = ['public_id', 'action', 'pattern', 'position', 'created_by', 'created_at'] as const;

async function rulesOf(db: Db, projectId: number): Promise<PolicyRule[]> {
  const rows = await db.all(
    db.q.selectFrom('policy_rules').select([...ruleColumns]).where('project_id', '=', projectId).orderBy('position').orderBy('id'),
  );
  return rows.map(toRule);
}

/**
 * The rules of a project in precedence order, for an SDK holding one of its
 * keys (GET /v1/projects/{project}/policies, GET /v1/policies). A hot path:
 * compiled once and remembered while the database is unchanged (any write,
 * through any replica, forgets it).
 */
export async function rulesForProject(db: Db, projectId: number): Promise<PolicyRule[]> {
  const query = db.statement('policy-rules-of-project', (q) =>
    q.selectFrom('policy_rules').select([...ruleColumns]).where('project_id', '=', '?' as unknown as number).orderBy('position').orderBy('id'),
  );
  return await db.cached(`policies:${projectId}`, async () => (await query.all(projectId)).map((r) => toRule(r as RuleRow)));
}

/** The rules of project `name` in precedence order; every role may list them. */
export async function listRules(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<{ project: Project; rules: PolicyRule[] }>> {
  const access = await authorize(ctx.db, actor, name, 'view');
  if (!access.ok) return access;
  return ok({ project: access.value.project, rules: await rulesOf(ctx.db, access.value.project.id) });
}

function positionRange(count: number, max: number): string {
  if (max === 1) return count === 0 ? 'The project has no rules yet, so the only position is 1.' : 'The only position is 1.';
  return `Positions run from 1 to ${max}.`;
}

/** A change of one rule as it is audited (`policy.<change>`) and announced; `from` only for a move. */
type RuleChange = Pick<PolicyChangeNotice, 'change' | 'rule' | 'action' | 'pattern' | 'position' | 'from'>;

/**
 * Records `change` in the audit trail (action `policy.added` / `.removed` / `.moved`, details
 * rule, action, pattern, position and, for a move, from) at `ctx.now()`, and, when the project
 * has an approvals channel, queues the announcement job. Runs inside the caller's transaction.
 */
async function recordAndAnnounce(ctx: ServiceContext, project: Project, actor: Actor, change: RuleChange): Promise<void> {
  const { rule, action, pattern, position, from } = change;
  const moved = from === undefined ? {} : { from };
  await recordEvent(ctx.db, ctx.now(), {
    projectId: project.id,
    actor: actor.userId,
    action: `policy.${change.change}`,
    details: { rule, action, pattern, ...moved, position },
  });
  // The channel is read again when the job runs: one taken back meanwhile is not posted to.
  if (project.approvalsChannel !== null) {
    const notice: PolicyChangeNotice = { project: project.id, actor: actor.userId, change: change.change, rule, action, pattern, position, ...moved };
    await ctx.jobs.enqueue(POLICY_ANNOUNCE_JOB, { ...notice }, ctx.now());
  }
}

/**
 * Adds a rule to project `name`: at the end, or at `position` (1..n+1; the
 * rules from there on move down one). Failures: `bad_input` (unknown action,
 * malformed glob, position out of range), `no_access`, `forbidden` (below
 * Member), `conflict` (the project already holds `LIMITS.policyRulesPerProject`
 * rules). Nothing changes on failure.
 */
export async function addRule(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  action: string,
  pattern: string,
  position?: number,
): Promise<Result<{ project: Project; rule: PolicyRule }>> {
  // What the person typed is not repeated here (the Slack layer shows it escaped): only the choices.
  if (!isPolicyAction(action)) return fail('bad_input', `That is not a rule action; use ${POLICY_ACTIONS.join(', ')}.`);
  const problem = patternProblem(pattern);
  if (problem) return fail('bad_input', problem);
  if (position !== undefined && (!Number.isInteger(position) || position < 1)) {
    return fail('bad_input', 'The position must be a whole number from 1.');
  }
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'governance');
    if (!access.ok) return access;
    const { project } = access.value;
    const count = Number(
      (await db.get(db.q.selectFrom('policy_rules').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', project.id)))!.n,
    );
    if (count >= LIMITS.policyRulesPerProject) {
      return fail(
        'conflict',
        `\`${name}\` already has ${count} policy rules, the most a project may hold (${LIMITS.policyRulesPerProject}); remove one first.`,
      );
    }
    const at = position ?? count + 1;
    if (at > count + 1) return fail('bad_input', `\`${name}\` has ${count} rules, so position ${at} does not exist. ${positionRange(count, count + 1)}`);
    const now = ctx.now();
    await db.run(db.q.updateTable('policy_rules').set((eb) => ({ position: eb('position', '+', 1) })).where('project_id', '=', project.id).where('position', '>=', at));
    const publicId = newRuleId();
    await db.run(
      db.q.insertInto('policy_rules').values({
        public_id: publicId,
        project_id: project.id,
        action,
        pattern,
        position: at,
        created_by: actor.userId,
        created_at: now,
      }),
    );
    await recordAndAnnounce(ctx, project, actor, { change: 'added', rule: publicId, action, pattern, position: at });
    return ok({ project, rule: { publicId, action, pattern, position: at, createdBy: actor.userId, createdAt: now } });
  });
}

/**
 * The prelude of every change to one rule, inside the caller's transaction: `actor` must hold
 * `governance` on project `name` (failures `no_access`, `forbidden`), and the project must hold
 * rule `ruleId` (`bad_input` for a malformed id; `not_found`, the refusal that also serves a rule
 * of another project, which must look unknown). Returns the project and the rule's row.
 */
async function findRule(db: Db, actor: Actor, name: string, ruleId: string): Promise<Result<{ project: Project; row: RuleRow & { id: number } }>> {
  const access = await authorize(db, actor, name, 'governance');
  if (!access.ok) return access;
  const { project } = access.value;
  const wanted = ruleId.toLowerCase();
  if (!RULE_ID_PATTERN.test(wanted)) return fail('bad_input', 'That is not a rule id; rule ids look like `pol_1a2b3c4d`.');
  const row = await db.get(
    db.q.selectFrom('policy_rules').select(['id', ...ruleColumns]).where('project_id', '=', project.id).where('public_id', '=', wanted),
  );
  if (!row) {
    return fail('not_found', `\`${project.name}\` has no policy rule \`${wanted}\`; \`/jamjet policies list ${project.name}\` shows the rule ids.`);
  }
  return ok({ project, row });
}

/**
 * Removes rule `ruleId` (`pol_…`) of project `name`; the rules after it move
 * up one. Failures: `no_access`, `forbidden`, `not_found` (no such rule in
 * this project, including a rule of another project).
 */
export async function removeRule(ctx: ServiceContext, actor: Actor, name: string, ruleId: string): Promise<Result<{ project: Project; rule: PolicyRule }>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const found = await findRule(db, actor, name, ruleId);
    if (!found.ok) return found;
    const { project, row } = found.value;
    const position = Number(row.position);
    await db.run(db.q.deleteFrom('policy_rules').where('id', '=', row.id));
    await db.run(db.q.updateTable('policy_rules').set((eb) => ({ position: eb('position', '-', 1) })).where('project_id', '=', project.id).where('position', '>', position));
    await recordAndAnnounce(ctx, project, actor, { change: 'removed', rule: row.public_id, action: row.action, pattern: row.pattern, position });
    return ok({ project, rule: toRule(row) });
  });
}

/**
 * Moves rule `ruleId` of project `name` to `position` (1..n); the rules in
 * between shift by one. Failures: `bad_input` (position out of range),
 * `no_access`, `forbidden`, `not_found`. Moving a rule to where it is
 * changes nothing and records nothing.
 */
export async function moveRule(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  ruleId: string,
  position: number,
): Promise<Result<{ project: Project; rule: PolicyRule; from: number }>> {
  if (!Number.isInteger(position) || position < 1) return fail('bad_input', 'The position must be a whole number from 1.');
  const { db } = ctx;
  return await db.transaction(async () => {
    const found = await findRule(db, actor, name, ruleId);
    if (!found.ok) return found;
    const { project, row } = found.value;
    const from = Number(row.position);
    const count = Number(
      (await db.get(db.q.selectFrom('policy_rules').select((eb) => eb.fn.countAll<number>().as('n')).where('project_id', '=', project.id)))!.n,
    );
    if (position > count) return fail('bad_input', `\`${name}\` has ${count} rules, so position ${position} does not exist. ${positionRange(count, count)}`);
    const rule = toRule({ ...row, position });
    if (position === from) return ok({ project, rule, from });
    if (position < from) {
      await db.run(
        db.q
          .updateTable('policy_rules')
          .set((eb) => ({ position: eb('position', '+', 1) }))
          .where('project_id', '=', project.id)
          .where('position', '>=', position)
          .where('position', '<', from),
      );
    } else {
      await db.run(
        db.q
          .updateTable('policy_rules')
          .set((eb) => ({ position: eb('position', '-', 1) }))
          .where('project_id', '=', project.id)
          .where('position', '>', from)
          .where('position', '<=', position),
      );
    }
    await db.run(db.q.updateTable('policy_rules').set({ position }).where('id', '=', row.id));
    await recordAndAnnounce(ctx, project, actor, { change: 'moved', rule: row.public_id, action: row.action, pattern: row.pattern, position, from });
    return ok({ project, rule, from });
  });
}
