import type { SecretStore } from '../../github/types.ts';
import type { Logger } from '../../logger.ts';
import type { Actor, ServiceContext } from '../../services/context.ts';
import type { GitHubPorts } from '../../services/github-connections.ts';
import type { UsageRecorder } from '../../services/key-auth.ts';
import type { WebApiSurface } from '../surface.ts';
import type { WorkInHand } from '../work-in-hand.ts';

/** What every listener needs. */
export interface ListenerDeps {
  readonly services: ServiceContext;
  readonly surface: WebApiSurface;
  readonly secrets: SecretStore;
  readonly github: GitHubPorts;
  readonly usage: UsageRecorder;
  readonly log: Logger;
  /** Runs due jobs now (card edits after a decision). */
  readonly kick: () => void;
  /** Follow-ups still running after Slack has its answer; stopping waits for them. */
  readonly inHand: WorkInHand;
  actorOf(userId: string): Actor;
}
