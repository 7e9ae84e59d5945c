/**
 * Bounds on what one command, one person or one API key can create, so a
 * single typo or a runaway agent cannot fan out into thousands of projects,
 * keys, DMs or cards. Each is refused past its bound with a sentence that
 * names it; the README lists them.
 */
export const LIMITS = {
  /** Environments in one `projects create --envs` (each is a project, a key and a DM). */
  envsPerCommand: 10,
  /** Live projects one person has created (JAMJET_ADMIN_USERS are not bounded). */
  projectsPerPerson: 50,
  /** Active API keys in one project, rotations included. */
  activeKeysPerProject: 20,
  /** Pending e-mail invitations in one project. */
  pendingInvitesPerProject: 50,
  /** Pending approval requests of one API key. */
  pendingApprovalsPerKey: 100,
  /** Pending approval requests of one project, all keys together. */
  pendingApprovalsPerProject: 300,
  /** Owners one approval request is DMed to when the project has no approvals channel. */
  cardDmsPerRequest: 10,
  /** Decisions kept per project (the newest; older ones are pruned as new ones arrive). */
  policyEventsPerProject: 10_000,
  /** Events in one `POST /v1/policy-audit/events` body; more is refused with 413. */
  policyEventsPerBatch: 100,
  /** Characters kept of each text field of a reported decision (`tool`, `host`, `rule`...); longer ones are cut with "…". */
  policyEventText: 200,
  /** Characters of a decision's `args` as JSON, after redaction; larger `args` are kept as a note of their size only. */
  policyEventArgs: 4_000,
  /** Policy rules of one project (every SDK fetches them all at each sync). */
  policyRulesPerProject: 100,
} as const;
