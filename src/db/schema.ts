/**
 * Row types of the tables the migrations create. Times are Unix epoch
 * milliseconds; JSON columns hold text.
 */
import type { Generated } from 'kysely';
import type { Role } from '../core/roles.ts';

export interface ProjectsTable {
  id: Generated<number>;
  name: string;
  environment: string | null;
  approvals_channel: string | null;
  approval_timeout_seconds: Generated<number>;
  /** Distinct approvals (Member and above) a new request needs, 1-5. */
  approvals_required: Generated<number>;
  /** Seconds after which a pending request is escalated to Admins and Owners; null: never. */
  escalate_after_seconds: number | null;
  /** When the Owners were told that announcements of blocked decisions stopped reaching the approvals channel (epoch ms); null: not since it was set or last took an announcement. */
  decisions_refusal_told_at: number | null;
  created_by: string;
  created_at: number;
  deleted_at: number | null;
  deleted_by: string | null;
}

export interface MembershipsTable {
  project_id: number;
  user_id: string;
  role: Role;
  added_by: string;
  created_at: number;
}

export interface PendingInvitesTable {
  id: Generated<number>;
  project_id: number;
  email: string;
  role: Role;
  invited_by: string;
  created_at: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  project_id: number | null;
  actor: string;
  action: string;
  details: string;
  created_at: number;
  prev_hash: string;
  hash: string;
}

/** A project's policy rules in precedence order (migration 014). */
export interface PolicyRulesTable {
  id: Generated<number>;
  /** `pol_` + 8 hex: the id people type and the SDKs receive. */
  public_id: string;
  project_id: number;
  action: 'block' | 'allow' | 'require_approval';
  /** A tool-name glob (`*` and `?`), see src/core/policies.ts. */
  pattern: string;
  /** 1 for the rule consulted first; positions of one project are 1..n without gaps. */
  position: number;
  created_by: string;
  created_at: number;
}

export interface ApiKeysTable {
  id: Generated<number>;
  public_id: string;
  project_id: number;
  name: string;
  hash: string;
  display: string;
  created_by: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  revoked_by: string | null;
}

export interface KeyDeliveriesTable {
  id: string;
  key_id: number;
  user_id: string;
  ciphertext: Buffer | null;
  created_at: number;
  reveal_until: number;
  revealing_at: number | null;
  revealed_at: number | null;
  expired_at: number | null;
  dm_channel: string | null;
  dm_ts: string | null;
}

export type TargetKind = 'repo' | 'environment' | 'org';

export interface GithubTargetsTable {
  id: Generated<number>;
  project_id: number;
  kind: TargetKind;
  owner: string;
  repo: string | null;
  environment: string | null;
  visibility: 'all' | 'private' | null;
  secret_name: string;
  created_by: string;
  created_at: number;
  removed_at: number | null;
  /** Set while the linker is no longer Admin or Owner: the target is not written. */
  paused_at: number | null;
  paused_reason: string | null;
}

export interface GithubConnectionsTable {
  user_id: string;
  github_login: string;
  github_id: number;
  /** The user token, sealed (see src/github/token-seal.ts); never plaintext. */
  token_sealed: Buffer;
  connected_at: number;
}

export type DeviceFlowOutcome = 'connected' | 'denied' | 'expired' | 'failed' | 'cancelled';

export interface GithubDeviceFlowsTable {
  id: Generated<number>;
  user_id: string;
  /** Sealed like a token; wiped when the flow ends. */
  device_code_sealed: Buffer | null;
  user_code: string;
  verification_uri: string;
  interval_seconds: number;
  expires_at: number;
  created_at: number;
  finished_at: number | null;
  outcome: DeviceFlowOutcome | null;
}

export interface GithubWrittenSecretsTable {
  /** The secret's identity as GitHub compares it (see secretKey in github-targets). */
  secret_key: string;
  /** GitHub's `updated_at` read back right after this bot's write. */
  updated_at: string;
  written_at: number;
}

export type RotationState = 'overlap' | 'revoked' | 'kept';

export interface RotationsTable {
  id: Generated<number>;
  project_id: number;
  old_key_id: number;
  new_key_id: number;
  delivery_id: string;
  requested_by: string;
  overlap_seconds: number;
  state: RotationState;
  created_at: number;
  remind_at: number | null;
  reminded_at: number | null;
  reminder_channel: string | null;
  reminder_ts: string | null;
  finished_at: number | null;
  finished_by: string | null;
}

export type TargetStatus = 'pending' | 'written' | 'failed';

export interface RotationTargetsTable {
  rotation_id: number;
  target_id: number;
  status: TargetStatus;
  message: string | null;
  attempts: Generated<number>;
  updated_at: number;
}

export type JobStatus = 'pending' | 'running' | 'done' | 'dead';

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  payload: string;
  run_at: number;
  status: JobStatus;
  attempts: Generated<number>;
  locked_by: string | null;
  locked_until: number | null;
  last_error: string | null;
  created_at: number;
  finished_at: number | null;
}

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired';

export interface ApprovalsTable {
  id: string;
  project_id: number;
  key_id: number;
  action: string;
  context: string;
  status: ApprovalStatus;
  reason: string | null;
  decided_by: string | null;
  decided_at: number | null;
  created_at: number;
  expires_at: number;
  /** The quorum fixed when the request was created. */
  approvals_required: Generated<number>;
  /** When the request was escalated (epoch ms); null: not (yet). */
  escalated_at: number | null;
  /** When its Owners were told it expired undecided (epoch ms). */
  owners_told_at: number | null;
}

/** One row per person who approved a request (their second press counts once). */
export interface ApprovalVotesTable {
  approval_id: string;
  user_id: string;
  /** 1: cast as one of JAMJET_ADMIN_USERS, who hold no membership row. */
  as_admin: number;
  voted_at: number;
  /** 1, 2, ... in the order the request's votes were cast. */
  position: number;
}

export interface ApprovalCardsTable {
  approval_id: string;
  destination: string;
  channel: string;
  ts: string;
}

/** Signatures (`v0=...`) of accepted Slack requests, until their signing window is over. */
export interface SlackRequestsSeenTable {
  signature: string;
  expires_at: number;
}

/** A Slack rate limit being waited out: `scope` is `channel:<id>` or `method:<name>`, `until` epoch ms. */
export interface SlackPausesTable {
  scope: string;
  until: number;
}

/** The next moment (epoch ms) the app may post to a channel (`scope` `channel:<id>`), shared by every process. */
export interface SlackSlotsTable {
  scope: string;
  next_free: number;
}

/** A slot on `scope` (epoch ms) that job `job_id` was told to come back for, kept for it by every process. */
export interface SlackSlotHoldsTable {
  job_id: number;
  scope: string;
  slot: number;
}

/**
 * The SDK API's token bucket of one API key (src/services/rate-limits.ts):
 * `tokens` left (fractional), counted at `at` (epoch ms); `granted` is 1 when
 * the last take consumed a token, 0 when it was refused.
 */
export interface ApiRateBucketsTable {
  key_id: number;
  /** The route's limit the bucket counts for (`RateLimit.bucket`). */
  bucket: string;
  tokens: number;
  at: number;
  granted: number;
}

/**
 * A decision a JamJet SDK reported (`POST /v1/policy-audit/events`): the
 * wire fields as sent, bounded; `args` redacted JSON text; `executed` 0 or 1;
 * `announce` 1 for a decision announced in the approvals channel, with the
 * job that took it and when Slack took the message.
 */
export interface PolicyEventsTable {
  id: Generated<number>;
  project_id: number;
  key_id: number;
  ts: string;
  run_id: string;
  adapter: string;
  host: string;
  tool: string;
  decision: string;
  executed: number;
  schema_version: number;
  rule: string | null;
  rule_kind: string | null;
  trace_id: string | null;
  decision_id: string | null;
  server: string | null;
  policy_version: string | null;
  args: string | null;
  received_at: number;
  announce: number;
  announce_job: number | null;
  announced_at: number | null;
}

export interface Schema {
  projects: ProjectsTable;
  memberships: MembershipsTable;
  pending_invites: PendingInvitesTable;
  audit_events: AuditEventsTable;
  api_keys: ApiKeysTable;
  key_deliveries: KeyDeliveriesTable;
  github_targets: GithubTargetsTable;
  github_connections: GithubConnectionsTable;
  github_device_flows: GithubDeviceFlowsTable;
  github_written_secrets: GithubWrittenSecretsTable;
  rotations: RotationsTable;
  rotation_targets: RotationTargetsTable;
  jobs: JobsTable;
  approvals: ApprovalsTable;
  approval_cards: ApprovalCardsTable;
  approval_votes: ApprovalVotesTable;
  slack_requests_seen: SlackRequestsSeenTable;
  slack_pauses: SlackPausesTable;
  api_rate_buckets: ApiRateBucketsTable;
  slack_slots: SlackSlotsTable;
  slack_slot_holds: SlackSlotHoldsTable;
  policy_events: PolicyEventsTable;
  policy_rules: PolicyRulesTable;
}
