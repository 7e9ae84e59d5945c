import type { App } from '@slack/bolt';
import { decidableBy } from '../../services/approvals.ts';
import { rolesOf } from '../../services/members.ts';
import { openRotationsFor } from '../../services/rotations.ts';
import type { InviteClaimer } from '../invites.ts';
import { homeView } from '../views/home.ts';
import type { ListenerDeps } from './deps.ts';

/** Builds and publishes a person's App Home: projects, approvals to decide, rotations in overlap. */
export function homePublisher(deps: ListenerDeps) {
  return async (userId: string, notice?: string): Promise<void> => {
    const actor = deps.actorOf(userId);
    const { services } = deps;
    const roles = rolesOf(services, userId);
    const rotations = openRotationsFor(services.db, roles.map((r) => r.projectId));
    const approvals = decidableBy(services, actor);
    await deps.surface.publishHome(userId, homeView({ roles, approvals, rotations, isAdmin: actor.isAdmin, notice }));
  };
}

/** App Home, refreshed each time it is opened. */
export function registerHomeListener(app: App, claimer: InviteClaimer, publish: ReturnType<typeof homePublisher>): void {
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    await claimer.claimFor(event.user);
    await publish(event.user);
  });
}
