/**
 * Pending e-mail invitations become memberships the first time the person
 * uses the app. Each person is looked up once per new invitation, not on
 * every command.
 */
import type { Logger } from '../logger.ts';
import { claimInvites } from '../services/members.ts';
import type { ServiceContext } from '../services/context.ts';
import type { UserDirectory } from './surface.ts';

export class InviteClaimer {
  /** The newest invitation id each person has been checked against. */
  private readonly checked = new Map<string, number>();

  constructor(
    private readonly services: ServiceContext,
    private readonly users: UserDirectory,
    private readonly log: Logger,
    /** Who acts as Owner everywhere (JAMJET_ADMIN_USERS): their invitations never lapse with a role. */
    private readonly isAdmin: (userId: string) => boolean = () => false,
  ) {}

  async claimFor(userId: string): Promise<{ project: string; role: string }[]> {
    const { db } = this.services;
    // Compiled once: this runs before every command.
    const newest = await db.cached('newest-invite', async () =>
      (await db.statement('newest-invite', (q) => q.selectFrom('pending_invites').select((eb) => eb.fn.max('id').as('id'))).get())?.id ?? null,
    );
    if (newest === null || (this.checked.get(userId) ?? 0) >= newest) return [];
    try {
      const user = await this.users.getUser(userId);
      // Remembered as checked only once the claim went through: a failed one is tried again next time.
      const granted = user?.email ? await claimInvites(this.services, userId, user.email, this.isAdmin) : [];
      this.checked.set(userId, newest);
      if (granted.length > 0) this.log.info('pending invitations claimed', { user: userId, projects: granted.map((g) => g.project) });
      return granted;
    } catch (error) {
      // The command itself still runs; the claim is tried again next time.
      this.log.warn('could not check pending invitations', { user: userId, error });
      return [];
    }
  }
}
