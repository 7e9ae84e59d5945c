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
  /** Policy rules of one project (every SDK fetches them all at each sync). */
  policyRulesPerProject: 100,
} as const;
