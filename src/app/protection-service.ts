import { BovedaError, SOFT_DELETE_DAYS } from '../core/index.js';
import { SOFT_DELETE_SETTING, type ProtectedItemRecord } from '../catalog/index.js';
import { expirePoints } from '../engine/index.js';
import { loadPoints } from '../repository/index.js';
import type { AppContext } from './app-context.js';

const DAY_MS = 86_400_000;

/**
 * The protection lifecycle of the seeds: protect → (stop with retained data ⇄ resume) →
 * delete data → soft-deleted for 14 days (undelete brings it back, stopped with retained data) →
 * purged by cleanup. Every move is one catalog transition from the states it is allowed from, so
 * two processes cannot both make it; INVALID_STATE names the state the item is in.
 */
export async function protectVm(app: AppContext, vmName: string, policyName: string): Promise<ProtectedItemRecord> {
  // The VM must exist now; it may disappear later (then its scheduled backups fail with VM_NOT_FOUND).
  await app.catalog.vms.get(vmName);
  return app.catalog.items.create(vmName, policyName, app.clock.now());
}

export async function stopProtectionRetainingData(app: AppContext, vmName: string): Promise<ProtectedItemRecord> {
  return app.catalog.items.transition(vmName, ['protected'], { state: 'stopped-retain', stoppedAt: app.clock.now() });
}

/** Resumes backups of an item stopped with retained data (optionally under another policy). */
export async function resumeProtection(app: AppContext, vmName: string, policyName?: string): Promise<ProtectedItemRecord> {
  const item = await app.catalog.items.get(vmName);
  if (item.state !== 'stopped-retain') {
    const hint = item.state === 'soft-deleted' ? ': undelete it first ("boveda undelete")' : ': it is not stopped';
    throw new BovedaError('INVALID_STATE', `cannot resume VM ${vmName}: its protected item is ${item.state}${hint}`, { details: { state: item.state } });
  }
  const policy = policyName ?? item.policyName;
  if (policy === null) throw new BovedaError('INVALID_ARGUMENT', `VM ${vmName} has no policy any more (it was deleted): resume it with --policy NAME`);
  return app.catalog.items.transition(vmName, ['stopped-retain'], { state: 'protected', stoppedAt: null, policyName: policy });
}

export interface DeleteDataOutcome {
  item: ProtectedItemRecord | null;
  /** True when soft delete is off for the vault and the points were deleted at once. */
  purged: boolean;
  removedPoints: number;
  freedBytes: number;
}

/**
 * Stop protection and delete data (from protected) or delete data (from stopped-retain): with soft
 * delete on (the default) the item becomes soft-deleted for 14 days — not billed, no backups, no
 * retention, restorable by undelete; with it off the points are deleted at once.
 */
export async function deleteProtectedData(app: AppContext, vmName: string, from: 'protected' | 'stopped-retain' | 'either'): Promise<DeleteDataOutcome> {
  const item = await app.catalog.items.get(vmName);
  const allowed = from === 'either' ? ['protected', 'stopped-retain'] as const : [from] as const;
  if (!(allowed as readonly string[]).includes(item.state)) {
    const hint = item.state === 'protected' ? ': stop protection first ("boveda stop-protection VM --delete-data")'
      : item.state === 'soft-deleted' ? `: it is already soft-deleted (purged after ${item.purgeAfter})` : '';
    throw new BovedaError('INVALID_STATE', `cannot delete the data of VM ${vmName}: its protected item is ${item.state}${hint}`, { details: { state: item.state } });
  }
  const now = app.clock.now();
  if (await app.catalog.settings.get(SOFT_DELETE_SETTING, true)) {
    const changed = await app.catalog.items.transition(vmName, allowed, {
      state: 'soft-deleted', softDeletedAt: now, purgeAfter: new Date(now.getTime() + SOFT_DELETE_DAYS * DAY_MS),
      stateBeforeDelete: item.state as 'protected' | 'stopped-retain', stoppedAt: item.stoppedAt ?? now,
    });
    return { item: changed, purged: false, removedPoints: 0, freedBytes: 0 };
  }
  // Soft delete off: claim the item first (so no backup starts), then delete every point.
  await app.catalog.items.transition(vmName, allowed, { state: 'stopped-retain', stoppedAt: item.stoppedAt ?? now });
  const vault = await app.vault();
  const ids = (await loadPoints(vault)).points.filter((point) => point.subject === vmName).map((point) => point.pointId);
  const report = await expirePoints(vault, ids);
  await app.catalog.points.removeForVm(vmName);
  await app.catalog.items.remove(vmName);
  return { item: null, purged: true, removedPoints: report.removed.length, freedBytes: report.freedBytes };
}

/** Brings a soft-deleted item back, stopped with its data retained (resume restarts backups). */
export async function undeleteProtection(app: AppContext, vmName: string): Promise<ProtectedItemRecord> {
  const item = await app.catalog.items.get(vmName);
  if (item.state !== 'soft-deleted') {
    throw new BovedaError('INVALID_STATE', `cannot undelete VM ${vmName}: its protected item is ${item.state}, not soft-deleted`, { details: { state: item.state } });
  }
  const now = app.clock.now();
  if (item.purgeAfter !== null && Date.parse(item.purgeAfter) <= now.getTime()) {
    throw new BovedaError('UNDELETE_WINDOW_PASSED', `cannot undelete VM ${vmName}: it was soft-deleted on ${item.softDeletedAt} and the ${SOFT_DELETE_DAYS}-day window ended ${item.purgeAfter}`);
  }
  return app.catalog.items.transition(vmName, ['soft-deleted'], { state: 'stopped-retain', softDeletedAt: null, purgeAfter: null, stateBeforeDelete: null });
}

/** Soft delete is on unless turned off with an explicit confirmation; not while items are soft-deleted. */
export async function setSoftDelete(app: AppContext, enabled: boolean, confirmed: boolean): Promise<void> {
  if (!enabled) {
    if (!confirmed) {
      throw new BovedaError('INVALID_ARGUMENT', 'turning soft delete off makes deleted backup data unrecoverable at once: repeat with --confirm-permanent-deletion');
    }
    const softDeleted = await app.catalog.items.list({ states: ['soft-deleted'] });
    if (softDeleted.length > 0) {
      throw new BovedaError('INVALID_STATE', `soft delete cannot be turned off while items are soft-deleted (${softDeleted.map((item) => item.vmName).join(', ')}): undelete them or wait for their purge`);
    }
  }
  await app.catalog.settings.set(SOFT_DELETE_SETTING, enabled);
}
