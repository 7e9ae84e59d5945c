import { z } from 'zod';
import { isValidSecretName } from '../src/github/names.ts';
import { checkCanLink, defaultSecretName, describeSpec, linkTarget, toSecretTarget } from '../src/services/github-targets.ts';
import { projectName } from '../src/slack/args.ts';
import { defineCommand } from '../src/slack/command.ts';
import { code, escape } from '../src/slack/mrkdwn.ts';

const REPO = /^([A-Za-z0-9][A-Za-z0-9-]{0,38})\/([A-Za-z0-9._-]{1,100})$/;

export default defineCommand({
  group: 'github',
  verb: 'link',
  usage: 'github link <project> <owner/repo> [--env <environment>] [--secret <NAME>]  or  github link <project> --org <org> [--secret <NAME>] [--visibility all|private]',
  summary:
    'Write the key to a GitHub Actions secret named JAMJET_... (repository, environment or organisation) on every rotation (Admin and above).',
  positionals: ['project', 'repo?'],
  flags: { env: 'value', secret: 'value', org: 'value', visibility: 'value' },
  schema: z
    .object({
      project: projectName,
      repo: z
        .string()
        .regex(REPO, { error: (iss) => `${code(String(iss.input))} is not a repository; write it as owner/repo.` })
        .optional(),
      env: z
        .string()
        .refine((e) => e.trim() !== '' && e.length <= 255, { error: 'The environment is a GitHub environment name of 1 to 255 characters.' })
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
    const allowed = checkCanLink(ctx.services, ctx.actor, args.project, (project) => ({
      kind: args.org ? 'org' : args.env ? 'environment' : 'repo',
      owner: owner!,
      repo: repo ?? null,
      environment: args.env ?? null,
      visibility: args.org ? (args.visibility ?? 'private') : null,
      secretName: args.secret ?? defaultSecretName(project),
    }));
    if (!allowed.ok) return allowed.error;
    const spec = allowed.value;
    // Ask GitHub first, so a missing permission shows now and not at the next rotation.
    const check = await ctx.secrets.check(toSecretTarget(spec));
    if (!check.ok) return { code: 'upstream', message: escape(check.message) };
    const result = linkTarget(ctx.services, ctx.actor, args.project, spec);
    if (!result.ok) return result.error;
    return {
      text: `:link: \`${args.project}\` is linked to ${escape(describeSpec(spec))} as target ${result.value.id}. Every \`/jamjet keys rotate ${args.project}\` writes the new key there.`,
    };
  },
});
