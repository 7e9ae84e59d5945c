import { z } from 'zod';
import { isValidEnvironmentName, isValidSecretName } from '../src/github/names.ts';
import { findLiveProject } from '../src/services/access.ts';
import { defaultSecretName, describeSpec, linkTarget, type TargetSpec } from '../src/services/github-targets.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { code, escape } from '../src/slack/mrkdwn.ts';
import { linkRefusal } from '../src/slack/views/github.ts';

const REPO = /^([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})$/;

export default defineCommand({
  group: 'github',
  verb: 'link',
  usage:
    'github link <project> <owner/repo> [--env <environment>] [--secret <NAME>] [--replace-existing]  or  github link <project> --org <org> [--secret <NAME>] [--visibility all|private] [--replace-existing]',
  summary:
    'Write the key to a GitHub Actions secret named JAMJET_... (repository, environment or organisation) on every rotation (Admin and above, and a GitHub admin there: see `github connect`).',
  positionals: ['project', 'repo?'],
  flags: { env: 'value', secret: 'value', org: 'value', visibility: 'value', 'replace-existing': 'boolean' },
  schema: z
    .object({
      project: projectName,
      repo: z
        .string()
        .regex(REPO, { error: (iss) => `${code(String(iss.input))} is not a repository; write it as owner/repo.` })
        .optional(),
      env: z
        .string()
        .refine(isValidEnvironmentName, {
          error: 'The environment is a GitHub environment name of 1 to 255 characters, without spaces at either end or `.` and `..` as path parts.',
        })
        .optional(),
      secret: z
        .string()
        .refine(isValidSecretName, {
          error: (iss) => `${code(String(iss.input))} is not a valid secret name: letters, digits and underscores, not starting with a digit or GITHUB_.`,
        })
        .optional(),
      org: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,38}$/, { error: (iss) => `${code(String(iss.input))} is not a GitHub organisation name.` })
        .optional(),
      visibility: z.enum(['all', 'private'], { error: 'The visibility is all or private.' }).optional(),
      replaceExisting: z.boolean().optional(),
    })
    .superRefine((a, ctx) => {
      const problem =
        a.repo && a.org
          ? 'Give either owner/repo or --org, not both.'
          : !a.repo && !a.org
            ? 'Say where to write: owner/repo, or --org <org>.'
            : a.org && a.env
              ? '--env is for repository environments, not organisations.'
              : a.repo && a.visibility
                ? '--visibility is for organisation secrets only.'
                : null;
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  async run(ctx, args) {
    const [, owner, repo] = args.repo ? REPO.exec(args.repo)! : [null, args.org!, null];
    // The default name depends on the project; one the person has no access to gets the no-access refusal below.
    const project = await findLiveProject(ctx.services.db, args.project);
    const spec: TargetSpec = {
      kind: args.org ? 'org' : args.env ? 'environment' : 'repo',
      owner: owner!,
      repo: repo ?? null,
      environment: args.env ?? null,
      visibility: args.org ? (args.visibility ?? 'private') : null,
      // GitHub stores secret names upper-cased.
      secretName: (args.secret ?? (project ? defaultSecretName(project) : 'JAMJET_API_KEY')).toUpperCase(),
    };
    const result = await linkTarget(ctx.services, ctx.github, ctx.actor, args.project, spec, args.replaceExisting === true);
    if (!result.ok) {
      const { refusal } = result;
      if (refusal.kind === 'access') return refusal.error;
      return { code: refusal.kind === 'github' ? 'upstream' : 'forbidden', message: linkRefusal(refusal, args.project, spec) };
    }
    const { target, relinked, replaced } = result.value;
    const how = relinked ? 'is linked again' : 'is linked';
    const takeover = replaced ? ' The secret that was there will be overwritten at the next rotation.' : '';
    return {
      text: `:link: \`${args.project}\` ${how} to ${escape(describeSpec(target))} as target ${target.id}. Every \`/jamjet keys rotate ${args.project}\` writes the new key there.${takeover}`,
    };
  },
});
