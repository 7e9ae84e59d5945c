import { describe, expect, it } from 'vitest';
import { can, parseRole, ROLES, weakestRoleFor, type Permission, type Role } from '../../src/core/roles.ts';

// docs/ARCHITECTURE.md, section 4, cell by cell: [permission, owner, admin, member, read_only]
const TABLE: [Permission, boolean, boolean, boolean, boolean][] = [
  ['view', true, true, true, true],
  ['decide_approval', true, true, true, false],
  ['governance', true, true, true, false],
  ['manage_keys', true, true, false, false],
  ['manage_members', true, true, false, false],
  ['manage_owners', true, false, false, false],
  ['delete_project', true, false, false, false],
];

describe('permission table', () => {
  const cells = TABLE.flatMap(([permission, ...allowed]) =>
    ROLES.map((role, i) => [permission, role, allowed[i]] as [Permission, Role, boolean]),
  );
  it.each(cells)('%s for %s is %s', (permission, role, expected) => {
    expect(can(role, permission)).toBe(expected);
  });

  it.each(TABLE.map(([p]) => p))('no role means no %s', (permission) => {
    expect(can(null, permission)).toBe(false);
  });

  it('names the weakest role that holds a permission', () => {
    expect(weakestRoleFor('view')).toBe('read_only');
    expect(weakestRoleFor('decide_approval')).toBe('member');
    expect(weakestRoleFor('manage_keys')).toBe('admin');
    expect(weakestRoleFor('delete_project')).toBe('owner');
  });

  it('reads the forms people type', () => {
    expect(parseRole('Admin')).toBe('admin');
    expect(parseRole('read-only')).toBe('read_only');
    expect(parseRole('readonly')).toBe('read_only');
    expect(parseRole('boss')).toBeNull();
  });
});
