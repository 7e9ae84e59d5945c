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

export interface Schema {
  projects: ProjectsTable;
  memberships: MembershipsTable;
  pending_invites: PendingInvitesTable;
  audit_events: AuditEventsTable;
}
