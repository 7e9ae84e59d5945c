import type { App } from '@slack/bolt';
import { z } from 'zod';
import { decidableBy } from '../../services/approvals.ts';
import { rolesOf } from '../../services/members.ts';
import { openRotationsFor } from '../../services/rotations.ts';
import type { InviteClaimer } from '../invites.ts';
import { patiently } from '../surface.ts';
import { homeView } from '../views/home.ts';
import type { ListenerDeps } from './deps.ts';

/** The longest publishing App Home waits out Slack's rate limit, in milliseconds. */
const HOME_PATIENCE_MS = 10_000;

/** Builds and publishes a person's App Home: projects, approvals to decide, rotations in overlap. */
export function homePublisher(deps: ListenerDeps) {
  return async (userId: string, notice?: string): Promise<void> => {
    const actor = deps.actorOf(userId);
    const { services } = deps;
    const roles = await rolesOf(services, userId);
    const rotations = await openRotationsFor(services.db, roles.map((r) => r.projectId));
    const approvals = await decidableBy(services, actor);
    // The person is looking at the tab (or pressed a button on it): wait out a short rate limit rather than leave it stale.
    const view = homeView({ roles, approvals, rotations, isAdmin: actor.isAdmin, notice });
    await patiently(() => deps.surface.publishHome(userId, view), HOME_PATIENCE_MS);
  };
}

/** The fields of Slack's `app_home_opened` event the listener reads. */
const HomeOpened = z.object({ user: z.string().regex(/^[UW][A-Z0-9]+$/), tab: z.string().optional() });

/** App Home, refreshed each time it is opened. */
export function registerHomeListener(app: App, claimer: InviteClaimer, publish: ReturnType<typeof homePublisher>): void {
  app.event('app_home_opened', async ({ event }) => {
    // Anything but a person opening the Home tab changes nothing.
    const opened = HomeOpened.safeParse(event);
    if (!opened.success || opened.data.tab !== 'home') return;
    await claimer.claimFor(opened.data.user);
    await publish(opened.data.user);
  });
}
