/**
 * Bolt wiring. Listeners are adapters: acknowledge, translate the payload,
 * call one command or service, render the result.
 */
import { App, HTTPReceiver, type AnyMiddlewareArgs, type Middleware } from '@slack/bolt';
import type { WebClientOptions } from '@slack/web-api';
import type { Config } from '../config.ts';
import { boltLogger, type Logger } from '../logger.ts';
import { rolesOf } from '../services/members.ts';
import { deleteProject } from '../services/projects.ts';
import type { Actor, ServiceContext } from '../services/context.ts';
import type { AnyCommand, Reply } from './command.ts';
import { InviteClaimer } from './invites.ts';
import { ROLE_LABELS, isRole } from '../core/roles.ts';
import { CommandRouter } from './router.ts';
import { WebApiSurface } from './surface.ts';
import { CONFIRM_BLOCK, CONFIRM_INPUT, DELETE_PROJECT_CALLBACK, projectDeletedModal } from './views/delete-project.ts';
import { homeView } from './views/home.ts';

/** Who the bot token belongs to, from `auth.test`. */
export interface SlackIdentity {
  readonly teamId: string;
  readonly enterpriseId: string | null;
  readonly botUserId: string;
  readonly botId: string;
}

export interface SlackDeps {
  readonly config: Config;
  readonly services: ServiceContext;
  readonly log: Logger;
  readonly identity: SlackIdentity;
  readonly commands: readonly AnyCommand[];
  readonly clientOptions: WebClientOptions;
}

export interface SlackApp {
  readonly app: App;
  /** Set in HTTP mode: the listener for `/slack/events`. */
  readonly receiver: HTTPReceiver | null;
  readonly surface: WebApiSurface;
}

export function createSlackApp(deps: SlackDeps): SlackApp {
  const { config, services, log, identity } = deps;
  const logger = boltLogger(log, config.logLevel);
  const receiver = config.slack.appToken
    ? null
    : new HTTPReceiver({ signingSecret: config.slack.signingSecret!, endpoints: ['/slack/events'], logger });
  const app = new App({
    token: config.slack.botToken,
    botId: identity.botId,
    botUserId: identity.botUserId,
    tokenVerificationEnabled: false,
    logger,
    clientOptions: deps.clientOptions,
    ...(receiver ? { receiver } : { appToken: config.slack.appToken!, socketMode: true }),
  });
  const surface = new WebApiSurface(app.client);
  const router = new CommandRouter(deps.commands);
  const claimer = new InviteClaimer(services, surface, log);
  const admins = new Set(config.adminUsers);
  const actorOf = (userId: string): Actor => ({ userId, isAdmin: admins.has(userId) });

  app.use(sameWorkspaceOnly(identity, log));

  app.command('/jamjet', async ({ command, ack }) => {
    const granted = await claimer.claimFor(command.user_id);
    const reply = await router.handle(
      {
        actor: actorOf(command.user_id),
        services,
        chat: surface,
        users: surface,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
        log: log.child({ user: command.user_id }),
        catalog: router.catalog,
      },
      command.text,
    );
    const joined = granted.map((g) => `You joined \`${g.project}\` as ${isRole(g.role) ? ROLE_LABELS[g.role] : g.role} (you were invited by e-mail).`);
    await ack(toAck(reply, joined));
  });

  app.view(DELETE_PROJECT_CALLBACK, async ({ ack, body, view }) => {
    const { project } = JSON.parse(view.private_metadata) as { project: string };
    const typed = view.state.values[CONFIRM_BLOCK]?.[CONFIRM_INPUT]?.value ?? '';
    const result = deleteProject(services, actorOf(body.user.id), project, typed);
    if (!result.ok) {
      await ack({ response_action: 'errors', errors: { [CONFIRM_BLOCK]: result.error.message.replace(/`/g, '') } });
      return;
    }
    await ack({ response_action: 'update', view: projectDeletedModal(project) });
  });

  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    await claimer.claimFor(event.user);
    await surface.publishHome(event.user, homeView(rolesOf(services, event.user), admins.has(event.user)));
  });

  app.error(async (error) => {
    log.error('slack listener failed', { error });
  });

  return { app, receiver, surface };
}

function toAck(reply: Reply | null, notes: string[]) {
  if (!reply && notes.length === 0) return undefined;
  const text = [...notes, reply?.text ?? ''].filter(Boolean).join('\n');
  return {
    response_type: reply?.inChannel ? ('in_channel' as const) : ('ephemeral' as const),
    text,
    ...(reply?.blocks ? { blocks: reply.blocks } : {}),
  };
}

/** Refuses requests from any workspace but the one the bot token belongs to. */
function sameWorkspaceOnly(identity: SlackIdentity, log: Logger): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const { context, next } = args;
    const sameTeam = context.teamId === identity.teamId;
    const sameOrg = identity.enterpriseId !== null && context.enterpriseId === identity.enterpriseId;
    if (sameTeam || sameOrg) {
      await next();
      return;
    }
    log.warn('request from another workspace refused', { team: context.teamId, enterprise: context.enterpriseId });
    if ('ack' in args && typeof args.ack === 'function') {
      await (args.ack as (response?: unknown) => Promise<void>)(
        'command' in args ? { response_type: 'ephemeral', text: 'This JamJet app serves another Slack workspace.' } : undefined,
      );
    }
  };
}
