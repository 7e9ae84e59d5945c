/** Project roles and the permission table of docs/ARCHITECTURE.md, section 4, as data. */
export const ROLES = ['owner', 'admin', 'member', 'read_only'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  view: ['owner', 'admin', 'member', 'read_only'],
  decide_approval: ['owner', 'admin', 'member'],
  governance: ['owner', 'admin', 'member'],
  manage_keys: ['owner', 'admin'],
  manage_members: ['owner', 'admin'],
  manage_owners: ['owner'],
  delete_project: ['owner'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

/** The one permission check. `null` means the person has no role in the project. */
export function can(role: Role | null, permission: Permission): boolean {
  if (role === null) return false;
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

/** The weakest role that holds a permission, for messages that name it. */
export function weakestRoleFor(permission: Permission): Role {
  const allowed = PERMISSIONS[permission] as readonly Role[];
  return [...ROLES].reverse().find((r) => allowed.includes(r)) ?? 'owner';
}

export const ROLE_LABELS: Record<Role, string> = {
  owner: 'Owner',
  admin: 'Admin',
  member: 'Member',
  read_only: 'Read-only',
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** Accepts the forms people type: `read-only`, `readonly`, `Admin`. */
export function parseRole(text: string): Role | null {
  const normal = text.trim().toLowerCase().replace(/[-\s]/g, '_');
  if (normal === 'readonly') return 'read_only';
  return isRole(normal) ? normal : null;
}
