import type { JobError, ProtectionState } from '../core/index.js';
import type { StoredJob } from '../catalog/index.js';
import type { AppContext } from './app-context.js';

export interface OverviewVm {
  name: string;
  /** null: defined but never protected (or its data was deleted). */
  state: ProtectionState | null;
  policyName: string | null;
  disks: number;
  lastBackup: { jobId: string; status: StoredJob['status']; endedAt: string | null; error: JobError | null } | null;
  latestPointAt: string | null;
  points: number;
  protectedBytes: number;
}

export interface Overview {
  now: string;
  counts: { vms: number; protected: number; stopped: number; softDeleted: number; unprotected: number; points: number; runningJobs: number; recentFailures: number };
  /** Failures first (last backup failed), then by name. */
  vms: OverviewVm[];
  runningJobs: StoredJob[];
  /** The newest failed jobs (at most 10). */
  recentFailures: StoredJob[];
  storage: { protectedBytes: number; points: number; storedBytes: number | null; sampledAt: string | null };
}

/**
 * The dashboard: everything from the catalog (no vault pass), so it is cheap to poll. Stored bytes
 * come from the latest usage sample (recorded after each backup and cleanup), null before any.
 */
export async function overview(app: AppContext): Promise<Overview> {
  const [vms, items, totals, running, failed, samples] = await Promise.all([
    app.catalog.vms.list(), app.catalog.items.list(), app.catalog.points.totals(),
    app.catalog.jobs.list({ status: ['queued', 'in-progress'] }), app.catalog.jobs.list({ status: 'failed', limit: 10 }),
    app.catalog.usage.list({ vmName: null, limit: 1 }),
  ]);
  const itemOf = new Map(items.map((item) => [item.vmName, item]));
  const totalOf = new Map(totals.map((total) => [total.vmName, total]));
  const rows: OverviewVm[] = [];
  for (const vm of vms) {
    const [last] = await app.catalog.jobs.list({ item: vm.name, type: 'backup', limit: 1 });
    const item = itemOf.get(vm.name);
    const total = totalOf.get(vm.name);
    rows.push({
      name: vm.name, state: item?.state ?? null, policyName: item?.policyName ?? null, disks: vm.disks.length,
      lastBackup: last ? { jobId: last.id, status: last.status, endedAt: last.endedAt, error: last.error } : null,
      latestPointAt: total?.newestAt ?? null, points: total?.points ?? 0, protectedBytes: total?.latestProtectedBytes ?? 0,
    });
  }
  const failing = (row: OverviewVm) => (row.lastBackup?.status === 'failed' ? 0 : 1);
  rows.sort((a, b) => failing(a) - failing(b) || a.name.localeCompare(b.name));
  const count = (state: ProtectionState) => items.filter((item) => item.state === state).length;
  const sample = samples[0];
  const points = totals.reduce((sum, total) => sum + total.points, 0);
  return {
    now: app.clock.now().toISOString(),
    counts: {
      vms: vms.length, protected: count('protected'), stopped: count('stopped-retain'), softDeleted: count('soft-deleted'),
      unprotected: rows.filter((row) => row.state === null).length, points,
      runningJobs: running.length, recentFailures: failed.length,
    },
    vms: rows,
    runningJobs: running,
    recentFailures: failed,
    storage: {
      protectedBytes: rows.reduce((sum, row) => sum + row.protectedBytes, 0), points,
      storedBytes: sample?.storedBytes ?? null, sampledAt: sample?.time ?? null,
    },
  };
}
