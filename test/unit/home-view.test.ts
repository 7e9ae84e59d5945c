import { describe, expect, it } from 'vitest';
import { homeView } from '../../src/slack/views/home.ts';

describe('App Home', () => {
  it('names JAMJET_ADMIN_USERS, not a Slack admin role, for someone who acts as Owner everywhere', () => {
    const input = { roles: [{ project: 'payments', projectId: 1, role: 'member' as const }], approvals: [], rotations: [] };
    const admin = JSON.stringify(homeView({ ...input, isAdmin: true }));
    expect(admin).toContain('You are in JAMJET_ADMIN_USERS (set by whoever runs the bot; not a Slack admin role): you act as Owner on every project.');
    expect(admin).not.toMatch(/workspace admin/i);
    expect(JSON.stringify(homeView({ ...input, isAdmin: false }))).not.toContain('JAMJET_ADMIN_USERS');
  });
});
