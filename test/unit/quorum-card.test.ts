import { describe, expect, it } from 'vitest';
import type { Approval } from '../../src/services/approvals.ts';
import { approvalCard } from '../../src/slack/views/approvals.ts';
import { homeView } from '../../src/slack/views/home.ts';
import { assertFits } from '../helpers/slack.ts';

const base: Approval = {
  id: 'apr_0123456789abcdef01234567',
  projectId: 1,
  keyId: 1,
  action: 'deploy <prod> & more',
  context: {},
  status: 'pending',
  reason: null,
  decidedBy: null,
  decidedAt: null,
  createdAt: 1_700_000_000_000,
  expiresAt: 1_700_003_600_000,
  approvalsRequired: 5,
  approvals: [],
  escalatedAt: null,
};
const votes = ['U1', 'U2', 'U3', 'U4', 'U5'].map((user, i) => ({ user, at: base.createdAt + i * 1000 }));
const card = (a: Approval) => approvalCard({ approval: a, project: 'payments', keyLabel: 'key_1 (`jj_1…0`)' });

describe('approval cards with a quorum', () => {
  it('show the count and who approved while pending, with the buttons', () => {
    const shown = JSON.stringify(card({ ...base, approvals: votes.slice(0, 2) }).blocks);
    expect(shown).toContain('Approvals: 2 of 5 — <@U1> (<!date^1700000000');
    expect(shown).toContain('<@U2> (<!date^1700000001');
    expect(shown).toContain('approval_approve');
    expect(JSON.stringify(card({ ...base }).blocks)).toContain('Approvals: 0 of 5');
  });

  it('list every approver once approved, and no buttons', () => {
    const approved = card({ ...base, status: 'approved', decidedBy: 'U5', decidedAt: base.createdAt + 5000, approvals: votes });
    const shown = JSON.stringify(approved.blocks);
    expect(shown).toContain('by <@U1>, <@U2>, <@U3>, <@U4>, <@U5> (5 of 5)');
    expect(shown).not.toContain('approval_approve');
    expect(shown).not.toContain('Approvals: ');
    assertFits('chat.postMessage', { channel: 'C1', ...approved });
  });

  it('keep the single-approver card as it was for a quorum of one', () => {
    const shown = JSON.stringify(card({ ...base, approvalsRequired: 1, status: 'approved', decidedBy: 'U1', decidedAt: base.createdAt, approvals: votes.slice(0, 1) }).blocks);
    expect(shown).toContain('*Approved* by <@U1>');
    expect(shown).not.toContain('Approvals: ');
  });

  it('say when a pending request was escalated', () => {
    expect(JSON.stringify(card({ ...base, escalatedAt: base.createdAt + 60_000 }).blocks)).toContain('Escalated to the project');
  });
});

describe('App Home with a quorum', () => {
  it('says how many approvals each pending request still needs', () => {
    const view = homeView({
      roles: [{ project: 'payments', projectId: 1, role: 'member' }],
      approvals: [
        { approval: { ...base, approvalsRequired: 2, approvals: votes.slice(0, 1) }, project: 'payments' },
        { approval: { ...base, id: 'apr_0123456789abcdef01234568', approvalsRequired: 3 }, project: 'payments' },
        { approval: { ...base, id: 'apr_0123456789abcdef01234569', approvalsRequired: 1 }, project: 'payments' },
      ],
      rotations: [],
      isAdmin: false,
    });
    const shown = JSON.stringify(view.blocks);
    expect(shown).toContain('needs 1 more approval (1 of 2)');
    expect(shown).toContain('needs 3 approvals');
    expect(shown).toContain('needs 1 approval ');
  });
});
