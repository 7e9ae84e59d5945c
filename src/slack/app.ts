/**
 * Bolt wiring. Listeners are adapters: acknowledge, translate the payload,
 * call one command or service, render the result.
 */
import type { RequestListener } from 'node:http';
import { App, HTTPReceiver, SocketModeReceiver, type AnyMiddlewareArgs, type Middleware } from '@slack/bolt';
import type { WebClientOptions } from '@slack/web-api';
import type { Config } from '../config.ts';
import type { SecretStore } from '../github/types.ts';
import { boltLogger, type Logger } from '../logger.ts';
import type { Actor, ServiceContext } from '../services/context.ts';
import type { GitHubPorts } from '../services/github-connections.ts';
import type { UsageRecorder } from '../services/key-auth.ts';
import type { AnyCommand } from './command.ts';
import { InviteClaimer } from './invites.ts';
import { registerCommandListener } from './listeners/commands.ts';
import type { ListenerDeps } from './listeners/deps.ts';
import { homePublisher, registerHomeListener } from './listeners/home.ts';
import { registerApprovalListeners } from './listeners/approvals.ts';
import { Interactions } from './listeners/dispatch.ts';
import { registerKeyListeners } from './listeners/keys.ts';
import { registerProjectListeners } from './listeners/projects.ts';
import { acceptOnce } from './replay.ts';
import { WorkInHand } from './work-in-hand.ts';
import { WebApiSurface } from './surface.ts';
import { Standings, whoMayUse } from './who-may-use.ts';

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
  readonly secrets: SecretStore;
  readonly github: GitHubPorts;
  readonly usage: UsageRecorder;
  readonly kick: () => void;
  readonly log: Logger;
  readonly identity: SlackIdentity;
  readonly commands: readonly AnyCommand[];
  readonly clientOptions: WebClientOptions;
}

export interface SlackApp {
  readonly app: App;
  /** Set in HTTP mode: Bolt's receiver. */
  readonly receiver: HTTPReceiver | null;
  /** Set in HTTP mode: the listener for `/slack/events`, accepting each signed request once, then Bolt's. */
  readonly events: RequestListener | null;
  readonly surface: WebApiSurface;
  /** Resolves once the follow-ups of commands already answered have finished. */
  settled(): Promise<void>;
  /** Whether Slack's requests can reach the bot: always in HTTP mode; in Socket Mode, while connected. */
  ready(): boolean;
}

export function createSlackApp(deps: SlackDeps): SlackApp {
  const { config, log, identity } = deps;
  const logger = boltLogger(log, config.logLevel);
  const receiver = config.slack.appToken
    ? null
    : new HTTPReceiver({
        signingSecret: config.slack.signingSecret!,
        endpoints: ['/slack/events'],
        logger,
        // Slack's payloads are far smaller; Bolt reads the body before it checks the signature.
        bodyLimit: 1024 * 1024,
      });
  // Socket Mode opens its connection through SLACK_API_URL too (GovSlack, tests),
  // and retries a lost connection for as long as the bot runs.
  const socket = config.slack.appToken
    ? new SocketModeReceiver({
        appToken: config.slack.appToken,
        logger,
        installerOptions: { clientOptions: { ...deps.clientOptions, retryConfig: { retries: 10, factor: 1.5, maxTimeout: 30_000 } } },
      })
    : null;
  let connected = false;
  socket?.client.on('connected', () => {
    connected = true;
    log.info('connected to Slack (Socket Mode)');
  });
  for (const state of ['disconnected', 'reconnecting', 'connecting'] as const) {
    socket?.client.on(state, () => {
      if (connected) log.warn('Socket Mode connection lost; reconnecting', { state });
      connected = false;
    });
  }
  const app = new App({
    token: config.slack.botToken,
    botId: identity.botId,
    botUserId: identity.botUserId,
    tokenVerificationEnabled: false,
    // No conversation store: nothing here uses it, and Bolt's default one costs every request.
    convoStore: false,
    logger,
    clientOptions: deps.clientOptions,
    receiver: receiver ?? socket!,
  });
  const surface = new WebApiSurface(app.client, identity);
  const admins = new Set(config.adminUsers);
  const inHand = new WorkInHand();
  const listenerDeps: ListenerDeps = {
    services: deps.services,
    surface,
    secrets: deps.secrets,
    github: deps.github,
    usage: deps.usage,
    kick: deps.kick,
    log,
    inHand,
    actorOf: (userId: string): Actor => ({ userId, isAdmin: admins.has(userId) }),
  };
  const claimer = new InviteClaimer(deps.services, surface, log, (id) => admins.has(id));

  app.use(sameWorkspaceOnly(identity, log));
  const standings = new Standings(async (user) => (await app.client.users.info({ user })).user, identity, deps.services.now, log);
  app.use(whoMayUse(standings, (userId, view) => surface.publishHome(userId, view), log));
  registerCommandListener(app, listenerDeps, deps.commands, claimer);
  const publishHome = homePublisher(listenerDeps);
  const interactions = new Interactions(log);
  registerProjectListeners(interactions, listenerDeps);
  registerKeyListeners(interactions, listenerDeps);
  registerApprovalListeners(interactions, listenerDeps, publishHome);
  interactions.attach(app);
  registerHomeListener(app, claimer, publishHome);
  app.error(async (error) => {
    log.error('slack listener failed', { error });
  });

  const events = receiver
    ? acceptOnce(receiver.requestListener, { signingSecret: config.slack.signingSecret!, services: deps.services, log })
    : null;
  return { app, receiver, events, surface, settled: () => inHand.settled(), ready: () => receiver !== null || connected };
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
