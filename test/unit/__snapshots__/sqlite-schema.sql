CREATE INDEX "api_keys_project" on "api_keys" ("project_id", "revoked_at");

CREATE INDEX approvals_pending ON approvals(project_id, created_at) WHERE status = 'pending';

CREATE INDEX approvals_pending_key ON approvals(key_id) WHERE status = 'pending';

CREATE INDEX "audit_events_project" on "audit_events" ("project_id", "id");

CREATE INDEX github_device_flows_open ON github_device_flows(user_id) WHERE finished_at IS NULL;

CREATE UNIQUE INDEX github_targets_live ON github_targets
    (project_id, kind, owner, coalesce(repo, ''), coalesce(environment, ''), secret_name) WHERE removed_at IS NULL;

CREATE INDEX jobs_due ON jobs(run_at) WHERE status = 'pending';

CREATE INDEX jobs_finished ON jobs(finished_at) WHERE status IN ('done', 'dead');

CREATE INDEX jobs_leased ON jobs(locked_until) WHERE status = 'running';

CREATE INDEX jobs_pending_kind ON jobs(kind) WHERE status = 'pending';

CREATE INDEX "memberships_user" on "memberships" ("user_id");

CREATE INDEX "pending_invites_email" on "pending_invites" ("email");

CREATE INDEX "pending_invites_project" on "pending_invites" ("project_id");

CREATE INDEX "policy_events_project" on "policy_events" ("project_id", "id");

CREATE INDEX policy_events_unannounced ON policy_events(project_id, announce_job) WHERE announce = 1 AND announced_at IS NULL;

CREATE INDEX "policy_rules_project" on "policy_rules" ("project_id", "position");

CREATE INDEX projects_live_creator ON projects(created_by) WHERE deleted_at IS NULL;

CREATE UNIQUE INDEX projects_live_name ON projects(name) WHERE deleted_at IS NULL;

CREATE UNIQUE INDEX rotations_one_open ON rotations(project_id) WHERE state = 'overlap';

CREATE INDEX slack_requests_seen_expiry ON slack_requests_seen(expires_at);

CREATE INDEX "slack_slot_holds_slot" on "slack_slot_holds" ("slot");

CREATE TABLE "api_keys" ("id" integer primary key autoincrement, "public_id" text not null unique, "project_id" integer not null references "projects" ("id"), "name" text not null, "hash" text not null unique, "display" text not null, "created_by" text not null, "created_at" integer not null, "last_used_at" integer, "revoked_at" integer, "revoked_by" text);

CREATE TABLE "api_rate_buckets" ("key_id" integer not null references "api_keys" ("id") on delete cascade, "bucket" text not null, "tokens" real not null, "at" integer not null, "granted" integer not null, constraint "api_rate_buckets_pkey" primary key ("key_id", "bucket"));

CREATE TABLE "approval_cards" ("approval_id" text not null references "approvals" ("id"), "destination" text not null, "channel" text not null, "ts" text not null, constraint "approval_cards_pk" primary key ("approval_id", "destination"));

CREATE TABLE "approval_votes" ("approval_id" text not null references "approvals" ("id"), "user_id" text not null, "as_admin" integer default 0 not null, "voted_at" integer not null, "position" integer not null, constraint "approval_votes_pk" primary key ("approval_id", "user_id"));

CREATE TABLE "approvals" ("id" text primary key, "project_id" integer not null references "projects" ("id"), "key_id" integer not null references "api_keys" ("id"), "action" text not null, "context" text not null, "status" text not null check (status IN ('pending', 'approved', 'rejected', 'expired')), "reason" text, "decided_by" text, "decided_at" integer, "created_at" integer not null, "expires_at" integer not null, "approvals_required" integer default 1 not null check (approvals_required BETWEEN 1 AND 5), "escalated_at" integer, "owners_told_at" integer);

CREATE TABLE "audit_events" ("id" integer primary key autoincrement, "project_id" integer references "projects" ("id"), "actor" text not null, "action" text not null, "details" text default '{}' not null, "created_at" integer not null, "prev_hash" text not null, "hash" text not null unique);

CREATE TABLE "github_connections" ("user_id" text primary key, "github_login" text not null, "github_id" integer not null, "token_sealed" blob not null, "connected_at" integer not null);

CREATE TABLE "github_device_flows" ("id" integer primary key autoincrement, "user_id" text not null, "device_code_sealed" blob, "user_code" text not null, "verification_uri" text not null, "interval_seconds" integer not null, "expires_at" integer not null, "created_at" integer not null, "finished_at" integer, "outcome" text);

CREATE TABLE "github_targets" ("id" integer primary key autoincrement, "project_id" integer not null references "projects" ("id"), "kind" text not null check (kind IN ('repo', 'environment', 'org')), "owner" text not null, "repo" text, "environment" text, "visibility" text, "secret_name" text not null, "created_by" text not null, "created_at" integer not null, "removed_at" integer, "paused_at" integer, "paused_reason" text);

CREATE TABLE "github_written_secrets" ("secret_key" text primary key, "updated_at" text not null, "written_at" integer not null);

CREATE TABLE "jobs" ("id" integer primary key autoincrement, "kind" text not null, "payload" text not null, "run_at" integer not null, "status" text not null check (status IN ('pending', 'running', 'done', 'dead')), "attempts" integer default 0 not null, "locked_by" text, "locked_until" integer, "last_error" text, "created_at" integer not null, "finished_at" integer);

CREATE TABLE "key_deliveries" ("id" text primary key, "key_id" integer not null references "api_keys" ("id"), "user_id" text not null, "ciphertext" blob, "created_at" integer not null, "reveal_until" integer not null, "revealing_at" integer, "revealed_at" integer, "expired_at" integer, "dm_channel" text, "dm_ts" text);

CREATE TABLE "memberships" ("project_id" integer not null references "projects" ("id"), "user_id" text not null, "role" text not null check (role IN ('owner', 'admin', 'member', 'read_only')), "added_by" text not null, "created_at" integer not null, constraint "memberships_pk" primary key ("project_id", "user_id"));

CREATE TABLE "pending_invites" ("id" integer primary key autoincrement, "project_id" integer not null references "projects" ("id"), "email" text not null, "role" text not null check (role IN ('owner', 'admin', 'member', 'read_only')), "invited_by" text not null, "created_at" integer not null, constraint "pending_invites_project_email" unique ("project_id", "email"));

CREATE TABLE "policy_events" ("id" integer primary key autoincrement, "project_id" integer not null references "projects" ("id") on delete cascade, "key_id" integer not null references "api_keys" ("id") on delete cascade, "ts" text not null, "run_id" text not null, "adapter" text not null, "host" text not null, "tool" text not null, "decision" text not null, "executed" integer not null, "schema_version" integer not null, "rule" text, "rule_kind" text, "trace_id" text, "decision_id" text, "server" text, "policy_version" text, "args" text, "received_at" integer not null, "announce" integer not null, "announce_job" integer, "announced_at" integer);

CREATE TABLE "policy_rules" ("id" integer primary key autoincrement, "public_id" text not null unique, "project_id" integer not null references "projects" ("id") on delete cascade, "action" text not null check (action IN ('block', 'allow', 'require_approval')), "pattern" text not null, "position" integer not null check ("position" >= 1), "created_by" text not null, "created_at" integer not null);

CREATE TABLE "projects" ("id" integer primary key autoincrement, "name" text not null, "environment" text, "approvals_channel" text, "approval_timeout_seconds" integer default 3600 not null, "created_by" text not null, "created_at" integer not null, "deleted_at" integer, "deleted_by" text, "approvals_required" integer default 1 not null check (approvals_required BETWEEN 1 AND 5), "escalate_after_seconds" integer, "decisions_refusal_told_at" integer);

CREATE TABLE "rotation_targets" ("rotation_id" integer not null references "rotations" ("id"), "target_id" integer not null references "github_targets" ("id"), "status" text not null check (status IN ('pending', 'written', 'failed')), "message" text, "attempts" integer default 0 not null, "updated_at" integer not null, constraint "rotation_targets_pk" primary key ("rotation_id", "target_id"));

CREATE TABLE "rotations" ("id" integer primary key autoincrement, "project_id" integer not null references "projects" ("id"), "old_key_id" integer not null references "api_keys" ("id"), "new_key_id" integer not null references "api_keys" ("id"), "delivery_id" text not null references "key_deliveries" ("id"), "requested_by" text not null, "overlap_seconds" integer not null, "state" text not null check (state IN ('overlap', 'revoked', 'kept')), "created_at" integer not null, "remind_at" integer, "reminded_at" integer, "reminder_channel" text, "reminder_ts" text, "finished_at" integer, "finished_by" text);

CREATE TABLE slack_pauses (
    scope TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  );

CREATE TABLE "slack_requests_seen" ("signature" text primary key, "expires_at" integer not null) WITHOUT ROWID;

CREATE TABLE "slack_slot_holds" ("job_id" integer not null, "scope" text not null, "slot" integer not null, constraint "slack_slot_holds_pk" primary key ("job_id", "scope"));

CREATE TABLE "slack_slots" ("scope" text primary key, "next_free" integer not null);

CREATE TABLE sqlite_sequence(name,seq);

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    WHEN NEW.prev_hash IS NOT coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1), '0000000000000000000000000000000000000000000000000000000000000000')
      OR (NEW.id > 0 AND NEW.id <= coalesce((SELECT max(id) FROM audit_events), 0))
    BEGIN SELECT RAISE(ABORT, 'audit events must continue the chain'); END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
