import { fail, ok, type Result } from '../core/errors.ts';
import { isProjectName, PROJECT_NAME_RULE } from '../core/names.ts';
import { formatDuration } from '../core/duration.ts';
import { LIMITS } from '../core/limits.ts';
import type { Role } from '../core/roles.ts';
import { insertionOrder } from '../db/dialect.ts';
import { authorize, byProjectName, toProject, type Project } from './access.ts';
import { recordEvent } from './audit.ts';
import type { Actor, ServiceContext } from './context.ts';
import { expirePendingApprovals } from './approvals.ts';
import { freeTargetsOf } from './github-targets.ts';
import { issueDeliveredKey, type NewKey } from './keys.ts';

export interface ProjectWithRole {
  readonly project: Project;
  /** The person's own membership; null for someone in JAMJET_ADMIN_USERS who is not a member. */
  readonly role: Role | null;
}

/**
 * Creates a project with the actor as Owner, or with `envs` one project per
 * environment (`name-dev`, ...), all or none.
 */
export async function createProjects(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  envs: readonly string[] | null,
): Promise<Result<NewKey[]>> {
  if (!isProjectName(name)) return fail('bad_input', `\`${name}\` is not a valid project name. ${PROJECT_NAME_RULE}`);
  if (envs && envs.length > LIMITS.envsPerCommand) {
    return fail('bad_input', `One command creates at most ${LIMITS.envsPerCommand} environments; you listed ${envs.length}.`);
  }
  const wanted = envs ? envs.map((env) => ({ name: `${name}-${env}`, env })) : [{ name, env: null }];
  for (const w of wanted) {
    if (!isProjectName(w.name)) return fail('bad_input', `\`${w.name}\` would not be a valid project name. ${PROJECT_NAME_RULE}`);
  }
  const { db } = ctx;
  return await db.transaction(async () => {
    const taken = await db.all(
      db.q.selectFrom('projects').select('name').where('deleted_at', 'is', null).where('name', 'in', wanted.map((w) => w.name)),
    );
    if (taken.length > 0) {
      const names = taken.map((t) => `\`${t.name}\``).join(', ');
      return fail('conflict', `A project named ${names} already exists; choose another name.`);
    }
    if (!actor.isAdmin) {
      const mine = (await db.get(
        db.q
          .selectFrom('projects')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('created_by', '=', actor.userId)
          .where('deleted_at', 'is', null),
      ))!.n;
      if (mine + wanted.length > LIMITS.projectsPerPerson) {
        return fail(
          'conflict',
          `One person may have created at most ${LIMITS.projectsPerPerson} projects; you have ${mine}, so ${wanted.length} more would be too many. Delete one you no longer need first.`,
        );
      }
    }
    const at = ctx.now();
    const created: NewKey[] = [];
    for (const w of wanted) {
      const row = (await db.get(
        db.q
          .insertInto('projects')
          .values({ name: w.name, environment: w.env, created_by: actor.userId, created_at: at })
          .returningAll(),
      ))!;
      await db.run(
        db.q
          .insertInto('memberships')
          .values({ project_id: row.id, user_id: actor.userId, role: 'owner', added_by: actor.userId, created_at: at }),
      );
      await recordEvent(db, at, {
        projectId: row.id,
        actor: actor.userId,
        action: 'project.created',
        details: { name: w.name, environment: w.env },
      });
      // Every project starts with one key, delivered once to its creator.
      created.push(await issueDeliveredKey(ctx, toProject(row), 'default', actor.userId));
    }
    return ok(created);
  });
}

/** The projects a person belongs to; people in JAMJET_ADMIN_USERS see every project. */
export async function listProjects(ctx: ServiceContext, actor: Actor): Promise<ProjectWithRole[]> {
  const { db } = ctx;
  if (!actor.isAdmin) {
    // Start from the person's memberships: the cost follows their projects, not
    // the workspace's. Compiled once: `projects list` is the commonest command.
    const mine = db.statement('projects-of-member', (q) =>
      q
        .selectFrom('memberships')
        .innerJoin('projects', 'projects.id', 'memberships.project_id')
        .selectAll('projects')
        .select('memberships.role')
        .where('memberships.user_id', '=', '?')
        .where('projects.deleted_at', 'is', null)
        .orderBy(byProjectName(db)),
    );
    return await db.cached(`projects-of:${actor.userId}`, async () =>
      (await mine.all(actor.userId)).map(({ role, ...row }) => ({ project: toProject(row), role })),
    );
  }
  const rows = await db.all(
    db.q
      .selectFrom('projects')
      .leftJoin('memberships', (j) =>
        j.onRef('memberships.project_id', '=', 'projects.id').on('memberships.user_id', '=', actor.userId),
      )
      .selectAll('projects')
      .select('memberships.role')
      .where('projects.deleted_at', 'is', null)
      .orderBy(byProjectName(db)),
  );
  return rows.map(({ role, ...row }) => ({ project: toProject(row), role }));
}

export interface ProjectInfo {
  readonly project: Project;
  readonly role: Role;
  readonly owners: string[];
  readonly memberCount: number;
}

export async function projectInfo(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<ProjectInfo>> {
  const { db } = ctx;
  const access = await authorize(db, actor, name, 'view');
  if (!access.ok) return access;
  const { project, role } = access.value;
  const members = await db.all(
    // Ties (members added in the same millisecond) in the order they were added, on either engine.
    db.q.selectFrom('memberships').select(['user_id', 'role']).where('project_id', '=', project.id).orderBy('created_at').orderBy(insertionOrder(db, 'memberships')),
  );
  return ok({
    project,
    role,
    owners: members.filter((m) => m.role === 'owner').map((m) => m.user_id),
    memberCount: members.length,
  });
}

/** Checks that the actor may delete, before the confirmation modal opens. */
export async function checkCanDelete(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<Project>> {
  const access = await authorize(ctx.db, actor, name, 'delete_project');
  return access.ok ? ok(access.value.project) : access;
}

/**
 * Soft-deletes after the person typed the project's name; the audit trail
 * stays. `projectId`, from the confirmation modal, must still name the
 * project of that name: a project deleted and created again under the same
 * name while the modal was open is not the one that was confirmed. Its
 * pending approval requests expire with it (their cards are refreshed).
 */
export async function deleteProject(ctx: ServiceContext, actor: Actor, name: string, typedName: string, projectId?: number): Promise<Result<Project>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'delete_project');
    if (!access.ok) return access;
    if (projectId !== undefined && access.value.project.id !== projectId) {
      return fail('conflict', `\`${name}\` is not the project this window was opened for (it was deleted and created again since); nothing was deleted.`);
    }
    if (typedName.trim() !== name) {
      return fail('bad_input', `The name you typed does not match \`${name}\`; nothing was deleted.`);
    }
    const at = ctx.now();
    const { project } = access.value;
    await db.run(db.q.updateTable('projects').set({ deleted_at: at, deleted_by: actor.userId }).where('id', '=', project.id));
    await db.run(db.q.deleteFrom('pending_invites').where('project_id', '=', project.id));
    // The decisions its SDKs reported go with it (they are the project's, not the audit trail's).
    await db.runUncached(db.q.deleteFrom('policy_events').where('project_id', '=', project.id));
    // Its policy rules go with it (a name created again starts with none).
    await db.run(db.q.deleteFrom('policy_rules').where('project_id', '=', project.id));
    // Its GitHub secrets are free to be linked again (by someone GitHub says may manage them).
    await freeTargetsOf(db, at, project.id, actor.userId);
    await recordEvent(db, at, { projectId: project.id, actor: actor.userId, action: 'project.deleted', details: { name } });
    // Nobody can decide its requests any more: they expire now, and their cards say so instead of offering buttons.
    await expirePendingApprovals(db, at, { projectId: project.id }, actor.userId, { project_deleted: true }, ctx.jobs);
    return ok(project);
  });
}

/** Checks that the actor may choose the approvals channel, before Slack is asked about it. */
export async function checkCanSetChannel(ctx: ServiceContext, actor: Actor, name: string): Promise<Result<Project>> {
  const access = await authorize(ctx.db, actor, name, 'governance');
  return access.ok ? ok(access.value.project) : access;
}

/**
 * Sets the channel where approval requests are posted, or with null takes it
 * back (requests go to the Owners by DM). Owners told that blocked decisions
 * no longer reached the old channel (`tellOwnersOfRefusal`) may be told again. The caller has checked the channel
 * with Slack: it exists, is not archived or shared, and the bot and the actor are in it.
 */
export async function setApprovalsChannel(
  ctx: ServiceContext,
  actor: Actor,
  name: string,
  channelId: string | null,
): Promise<Result<Project>> {
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'governance');
    if (!access.ok) return access;
    const { project } = access.value;
    const at = ctx.now();
    // Owners told that blocked decisions no longer reach the old channel are told again if the new one refuses them too.
    await db.run(db.q.updateTable('projects').set({ approvals_channel: channelId, decisions_refusal_told_at: null }).where('id', '=', project.id));
    await recordEvent(db, at, {
      projectId: project.id,
      actor: actor.userId,
      action: channelId === null ? 'project.channel_cleared' : 'project.channel_set',
      details: { channel: channelId, previous: project.approvalsChannel },
    });
    return ok({ ...project, approvalsChannel: channelId });
  });
}

/** The job that announces a change of a project setting in its approvals channel (src/jobs/policy-handlers.ts). */
export const SETTING_ANNOUNCE_JOB = 'projects.announce_setting';

/** The settings of `/jamjet projects set`, by the names people type. */
export const PROJECT_SETTINGS = ['approval-timeout', 'approvals-required', 'escalate-after'] as const;
export type ProjectSetting = (typeof PROJECT_SETTINGS)[number];

/** What the announcement job needs (its payload): who set which setting of which project to what. */
export interface SettingChangeNotice {
  readonly project: number;
  /** The Slack user id of the person who changed it. */
  readonly actor: string;
  readonly setting: ProjectSetting;
  /** Seconds for approval-timeout and escalate-after (null: escalation off), a count 1-5 for approvals-required. */
  readonly value: number | null;
}

/** The value of a setting as stored, in the units of `SettingChangeNotice.value`. */
function settingValue(project: Project, setting: SettingChangeNotice['setting']): number | null {
  if (setting === 'approvals-required') return project.approvalsRequired;
  if (setting === 'escalate-after') return project.escalateAfterSeconds;
  return project.approvalTimeoutSeconds;
}

/**
 * Whether a setting's change announced by job `jobId` was overtaken: the
 * value stored is another, or the same setting of the same project was
 * changed again after it (a later announcement job, whatever its state:
 * jobs are queued in the change's transaction, so their ids follow the
 * changes), as when it was set to 2, then 3, then 2 again while Slack held
 * the first announcement back.
 */
export async function settingChangeSuperseded(ctx: ServiceContext, project: Project, notice: SettingChangeNotice, jobId: number): Promise<boolean> {
  const { db } = ctx;
  if (settingValue(project, notice.setting) !== notice.value) return true;
  const later = await db.all(db.q.selectFrom('jobs').select('payload').where('kind', '=', SETTING_ANNOUNCE_JOB).where('id', '>', jobId));
  return later.some((j) => {
    const other = JSON.parse(j.payload) as SettingChangeNotice;
    return other.project === notice.project && other.setting === notice.setting;
  });
}

/**
 * Queues the announcement of a setting change, in the change's transaction so
 * both land or neither; the job reads the channel again when it runs.
 */
async function announceSetting(ctx: ServiceContext, project: Project, notice: SettingChangeNotice): Promise<void> {
  if (project.approvalsChannel !== null) await ctx.jobs.enqueue(SETTING_ANNOUNCE_JOB, { ...notice }, ctx.now());
}

/** Sets how long approval requests stay pending before they expire; audited as `project.approval_timeout_set`, announced in the approvals channel. */
export async function setApprovalTimeout(ctx: ServiceContext, actor: Actor, name: string, seconds: number): Promise<Result<Project>> {
  if (seconds < 60 || seconds > 7 * 86_400) {
    return fail('bad_input', 'The approval timeout must be between 1 minute and 7 days.');
  }
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'governance');
    if (!access.ok) return access;
    const { project } = access.value;
    if (project.escalateAfterSeconds !== null && seconds <= project.escalateAfterSeconds) {
      return fail(
        'bad_input',
        `Requests of \`${name}\` are escalated after ${formatDuration(project.escalateAfterSeconds)}, so the approval timeout must be longer than that; change or turn off escalate-after first.`,
      );
    }
    await db.run(db.q.updateTable('projects').set({ approval_timeout_seconds: seconds }).where('id', '=', project.id));
    await recordEvent(db, ctx.now(), {
      projectId: project.id,
      actor: actor.userId,
      action: 'project.approval_timeout_set',
      details: { seconds, previous: project.approvalTimeoutSeconds },
    });
    await announceSetting(ctx, project, { project: project.id, actor: actor.userId, setting: 'approval-timeout', value: seconds });
    return ok({ ...project, approvalTimeoutSeconds: seconds });
  });
}

/** Bounds of `approvals-required`: distinct people who must approve a request. */
export const APPROVALS_REQUIRED_MIN = 1;
export const APPROVALS_REQUIRED_MAX = 5;
/** The shortest `escalate-after`, in seconds. */
export const ESCALATE_AFTER_MIN_SECONDS = 30;

/**
 * Sets how many distinct people (Member and above) must approve a request of
 * the project (1-5). Only requests created from now on need the new number:
 * each request keeps the quorum it was created with. Governance (Member and
 * above); audited as `project.approvals_required_set` and announced in the
 * approvals channel (`SETTING_ANNOUNCE_JOB`). Fails `bad_input`
 * outside 1-5, `no_access` / `forbidden` as `authorize` does.
 */
export async function setApprovalsRequired(ctx: ServiceContext, actor: Actor, name: string, count: number): Promise<Result<Project>> {
  if (!Number.isInteger(count) || count < APPROVALS_REQUIRED_MIN || count > APPROVALS_REQUIRED_MAX) {
    return fail('bad_input', `Approvals required must be a whole number from ${APPROVALS_REQUIRED_MIN} to ${APPROVALS_REQUIRED_MAX}.`);
  }
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'governance');
    if (!access.ok) return access;
    const { project } = access.value;
    await db.run(db.q.updateTable('projects').set({ approvals_required: count }).where('id', '=', project.id));
    await recordEvent(db, ctx.now(), {
      projectId: project.id,
      actor: actor.userId,
      action: 'project.approvals_required_set',
      details: { count, previous: project.approvalsRequired },
    });
    await announceSetting(ctx, project, { project: project.id, actor: actor.userId, setting: 'approvals-required', value: count });
    return ok({ ...project, approvalsRequired: count });
  });
}

/**
 * Sets after how many seconds a still-pending request is escalated to the
 * project's Admins and Owners, or with null turns escalation off. It must be
 * shorter than the approval timeout (else it could never fire) and at least
 * `ESCALATE_AFTER_MIN_SECONDS`. Applies to requests created from now on.
 * Governance; audited as `project.escalate_after_set` and announced in the
 * approvals channel (`SETTING_ANNOUNCE_JOB`).
 */
export async function setEscalateAfter(ctx: ServiceContext, actor: Actor, name: string, seconds: number | null): Promise<Result<Project>> {
  if (seconds !== null && seconds < ESCALATE_AFTER_MIN_SECONDS) {
    return fail('bad_input', `Escalate-after must be at least ${ESCALATE_AFTER_MIN_SECONDS} seconds, or off.`);
  }
  const { db } = ctx;
  return await db.transaction(async () => {
    const access = await authorize(db, actor, name, 'governance');
    if (!access.ok) return access;
    const { project } = access.value;
    if (seconds !== null && seconds >= project.approvalTimeoutSeconds) {
      return fail(
        'bad_input',
        `Requests of \`${name}\` expire after ${formatDuration(project.approvalTimeoutSeconds)}, so escalate-after must be shorter than that or it could never happen.`,
      );
    }
    await db.run(db.q.updateTable('projects').set({ escalate_after_seconds: seconds }).where('id', '=', project.id));
    await recordEvent(db, ctx.now(), {
      projectId: project.id,
      actor: actor.userId,
      action: 'project.escalate_after_set',
      details: { seconds, previous: project.escalateAfterSeconds },
    });
    await announceSetting(ctx, project, { project: project.id, actor: actor.userId, setting: 'escalate-after', value: seconds });
    return ok({ ...project, escalateAfterSeconds: seconds });
  });
}
