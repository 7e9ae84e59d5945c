import type { App } from '@slack/bolt';
import { rolesOf } from '../../services/members.ts';
import type { InviteClaimer } from '../invites.ts';
import { homeView } from '../views/home.ts';
import type { ListenerDeps } from './deps.ts';

/** App Home, refreshed each time it is opened. */
export function registerHomeListener(app: App, deps: ListenerDeps, claimer: InviteClaimer): void {
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home') return;
    await claimer.claimFor(event.user);
    const actor = deps.actorOf(event.user);
    await deps.surface.publishHome(event.user, homeView(rolesOf(deps.services, event.user), actor.isAdmin));
  });
}
