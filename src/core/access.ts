/**
 * Who may do what through the server (API, web UI, remote CLI). Pure rules, no I/O.
 *
 * Roles, each including the one before it:
 * - reader: sees everything but secrets and the audit log (VMs, points, jobs, usage, settings).
 * - operator: also runs on-demand backups and restores, cancels jobs, verifies the vault. Deletes
 *   nothing and changes no policy.
 * - contributor: everything but security: VMs, policies, protection, cleanup, gc, settings — and the
 *   destructive actions (delete data, turn soft delete off, shorten retention), which are audited.
 * - admin: also users, roles, tokens of others, security settings, the audit log, and restoring
 *   disk-encryption secrets.
 * A user may also hold `keyRestore` without being admin: the one extra permission to read
 * disk-encryption secrets of recovery points (every read is audited).
 */
export const ROLES = ['reader', 'operator', 'contributor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route or action needs. */
export const PERMISSIONS = ['view', 'operate', 'configure', 'destroy', 'administer', 'restore-keys'] as const;
export type Permission = (typeof PERMISSIONS)[number];

const LEAST_ROLE: Record<Exclude<Permission, 'restore-keys'>, Role> = {
  view: 'reader',
  operate: 'operator',
  configure: 'contributor',
  destroy: 'contributor',
  administer: 'admin',
};

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function roleRank(role: Role): number {
  return ROLES.indexOf(role);
}

/** The authenticated caller of a server action. */
export interface Principal {
  readonly userName: string;
  readonly role: Role;
  /** May read disk-encryption secrets without being admin. */
  readonly keyRestore: boolean;
  /** The token or session the request came with (its id, never the secret). */
  readonly tokenId: string;
  /** Where the request came from (IP address, or "cli" for local commands). */
  readonly source: string;
}

export function allows(principal: Pick<Principal, 'role' | 'keyRestore'>, permission: Permission): boolean {
  if (permission === 'restore-keys') return principal.role === 'admin' || principal.keyRestore;
  return roleRank(principal.role) >= roleRank(LEAST_ROLE[permission]);
}

/** The permissions a principal holds, for `GET /api/me` and the UI (which hides what it may not do). */
export function permissionsOf(principal: Pick<Principal, 'role' | 'keyRestore'>): Permission[] {
  return PERMISSIONS.filter((permission) => allows(principal, permission));
}
