/**
 * Protection of a VM: the link between a VM name and a policy, and the lifecycle the seeds describe.
 * Keyed by VM name (as recovery points in the vault are), so a VM that disappears and is added again
 * under the same name finds its item and points again.
 *
 * States:
 * - protected: scheduled backups run; retention applies.
 * - stopped-retain: no backups; every point kept forever; still billed. `resume` → protected.
 * - soft-deleted: no backups; points kept but not billed, restorable with `undelete` until
 *   `purgeAfter` (softDeletedAt + SOFT_DELETE_DAYS); purged after it. Retention does not run.
 * An item whose data was purged (or deleted with soft delete turned off) no longer exists.
 */
export type ProtectionState = 'protected' | 'stopped-retain' | 'soft-deleted';

export const SOFT_DELETE_DAYS = 14;

export interface ProtectedItem {
  vmName: string;
  /** The policy name; null only when the policy was deleted while the item was stopped. */
  policyName: string | null;
  state: ProtectionState;
  protectedAt: string;
  stoppedAt: string | null;
  softDeletedAt: string | null;
  /** When a soft-deleted item's points are purged (ISO UTC), else null. */
  purgeAfter: string | null;
  /** The state before soft delete, restored by undelete. */
  stateBeforeDelete: 'protected' | 'stopped-retain' | null;
}
