import { BovedaError, applyRetention, type KeepReason, type PolicyDefinition, type ProtectionState, type RetentionDecision, type RetentionPoint, type JobTrigger } from '../core/index.js';
import { expirePoints, pointMeta, type ExpirePointsReport } from '../engine/index.js';
import { loadPoints, measureRemovalSavings, type PointManifest } from '../repository/index.js';
import type { AppContext } from './app-context.js';
import type { StoredJob } from '../catalog/index.js';
import { runJob, runNewJob, type JobBodyResult, type JobContext, type JobRunOutcome } from './job-runner.js';
import { recordUsageQuietly } from './usage-history.js';

/** One point cleanup would remove, and why it is no longer kept. */
export interface ExpiredPoint {
  id: string;
  createdAt: string;
  trigger: 'scheduled' | 'on-demand';
  /** When its last keep reason lapsed (ISO UTC); null for a purge. */
  expiredAt: string | null;
  why: string;
}

export interface VmCleanupPlan {
  vmName: string;
  state: ProtectionState | null;
  policyName: string | null;
  points: number;
  /** Soft-deleted past its window: every point goes and the item with them. */
  purge: boolean;
  remove: ExpiredPoint[];
  /** Why each kept point is kept, by reason, for reports: e.g. { daily: 7, latest: 1 }. */
  keptBy: Partial<Record<KeepReason, number>>;
}

export interface CleanupPlan {
  now: string;
  vms: VmCleanupPlan[];
}

export interface CleanupReport extends CleanupPlan {
  dryRun: boolean;
  removedPoints: number;
  purgedItems: string[];
  freedBlocks: number;
  freedBytes: number;
  freedStoredBytes: number;
  gcDeferred: string | null;
}

export interface CleanupOptions {
  dryRun?: boolean;
  /** Only these VMs (default: every VM with points in the vault). */
  vmNames?: readonly string[];
  /** Plan as if these policies had these definitions: what a policy change would remove. */
  policyOverrides?: ReadonlyMap<string, PolicyDefinition>;
  signal?: AbortSignal;
  /** Passed to gc: how long to wait for running backups before deferring the space release. */
  gcWaitMs?: number;
}

/**
 * What retention says now of each of a VM's points (given as the vault lists them): kept or not,
 * why, and until when — so `points` can show when a scheduled point will go, not only on-demand
 * expiries.
 */
export async function retentionOf(app: AppContext, vmName: string, points: readonly RetentionPoint[]): Promise<Map<string, RetentionDecision>> {
  const item = await app.catalog.items.find(vmName);
  const policy = item?.policyName ? await app.catalog.policies.find(item.policyName) : null;
  const decisions = applyRetention([...points], policy ?? null, app.clock.now(), { state: item?.state ?? null });
  return new Map(decisions.map((decision) => [decision.id, decision]));
}

/**
 * Which points retention no longer keeps, per VM, at the app clock's now. The vault is the truth
 * for which points exist (every VM with points, protected or not, is considered: an on-demand
 * point of an unprotected VM still expires); the catalog says each VM's state and policy.
 */
export async function planCleanup(app: AppContext, options: CleanupOptions = {}): Promise<CleanupPlan & { manifests: PointManifest[] }> {
  const now = app.clock.now();
  const vault = await app.vault();
  const { points } = await loadPoints(vault, options.signal);
  const bySubject = new Map<string, PointManifest[]>();
  for (const point of points) {
    if (options.vmNames && !options.vmNames.includes(point.subject)) continue;
    const list = bySubject.get(point.subject) ?? [];
    list.push(point);
    bySubject.set(point.subject, list);
  }
  const vms: VmCleanupPlan[] = [];
  for (const [vmName, manifests] of [...bySubject].sort(([a], [b]) => a.localeCompare(b))) {
    const item = await app.catalog.items.find(vmName);
    const policyName = item?.policyName ?? null;
    const policy = policyName === null ? null : options.policyOverrides?.get(policyName) ?? (await app.catalog.policies.find(policyName));
    const plan: VmCleanupPlan = { vmName, state: item?.state ?? null, policyName, points: manifests.length, purge: false, remove: [], keptBy: {} };
    if (item?.state === 'soft-deleted' && item.purgeAfter !== null && Date.parse(item.purgeAfter) <= now.getTime()) {
      plan.purge = true;
      plan.remove = manifests.map((point) => ({
        id: point.pointId, createdAt: point.createdAt, trigger: pointMeta(point).trigger, expiredAt: null,
        why: `soft-deleted on ${item.softDeletedAt}; the 14-day window ended ${item.purgeAfter}`,
      }));
      vms.push(plan);
      continue;
    }
    const retentionPoints: RetentionPoint[] = manifests.map((point) => {
      const meta = pointMeta(point);
      return { id: point.pointId, createdAt: point.createdAt, trigger: meta.trigger, expiresAt: meta.expiresAt };
    });
    const decisions = applyRetention(retentionPoints, policy ?? null, now, { state: item?.state ?? null });
    decisions.forEach((decision, index) => {
      const point = retentionPoints[index]!;
      if (decision.keep) {
        for (const reason of decision.reasons) plan.keptBy[reason] = (plan.keptBy[reason] ?? 0) + 1;
        return;
      }
      const why = point.trigger === 'on-demand'
        ? `on-demand point expired ${decision.keepUntil}`
        : `no daily, weekly, monthly or yearly slot of policy ${policyName} keeps it after ${decision.keepUntil}`;
      plan.remove.push({ id: point.id, createdAt: point.createdAt, trigger: point.trigger, expiredAt: decision.keepUntil, why });
    });
    vms.push(plan);
  }
  return { now: now.toISOString(), vms, manifests: points };
}

/**
 * Cleanup: removes what planCleanup says, in one pass over the vault (one gc), purges soft-deleted
 * items past their window, and keeps the catalog's mirror in step. Freed bytes are exact: the
 * blocks of removed points that no remaining point (of any VM) references. A dry run measures the
 * same without changing anything.
 */
export async function runCleanup(app: AppContext, options: CleanupOptions = {}): Promise<CleanupReport> {
  const plan = await planCleanup(app, options);
  const ids = plan.vms.flatMap((vm) => vm.remove.map((point) => point.id));
  const purged = plan.vms.filter((vm) => vm.purge).map((vm) => vm.vmName);
  const vault = await app.vault();
  let outcome: ExpirePointsReport | { freedBlocks: number; freedBytes: number; freedStoredBytes: number; gcDeferred: string | null };
  if (options.dryRun) {
    const savings = await measureRemovalSavings(vault, ids, options.signal);
    outcome = { ...savings, gcDeferred: null };
  } else {
    outcome = ids.length === 0 ? { freedBlocks: 0, freedBytes: 0, freedStoredBytes: 0, gcDeferred: null }
      : await expirePoints(vault, ids, { signal: options.signal, gcWaitMs: options.gcWaitMs });
    await app.catalog.points.remove(ids);
    for (const vmName of purged) {
      await app.catalog.points.removeForVm(vmName);
      await app.catalog.items.remove(vmName);
    }
  }
  return {
    now: plan.now, vms: plan.vms, dryRun: options.dryRun === true, removedPoints: ids.length, purgedItems: purged,
    freedBlocks: outcome.freedBlocks, freedBytes: outcome.freedBytes, freedStoredBytes: outcome.freedStoredBytes, gcDeferred: outcome.gcDeferred,
  };
}

/**
 * The VM names a cleanup is limited to, each known to the catalog (a definition, a protected item
 * or recovery points): VM_NOT_FOUND for a name none of them knows, so a typo is not a silent no-op.
 */
export async function checkCleanupVms(app: AppContext, vmNames: readonly string[]): Promise<string[]> {
  for (const vmName of vmNames) {
    if (await app.catalog.vms.find(vmName) || await app.catalog.items.find(vmName)) continue;
    if ((await app.catalog.points.listForVm(vmName)).length > 0) continue;
    throw new BovedaError('VM_NOT_FOUND', `no VM named "${vmName}" with a definition, protection or recovery points to clean up (see "boveda vm list")`);
  }
  return [...new Set(vmNames)];
}

/**
 * Cleanup as a job (`boveda cleanup`, and periodically in `serve`): the job's result holds what was
 * removed and freed, a deferred gc becomes a warning. Item is the VM when exactly one was asked for.
 */
export async function runCleanupJob(
  app: AppContext, trigger: JobTrigger, options: Omit<CleanupOptions, 'dryRun'> = {}, queued?: StoredJob,
): Promise<JobRunOutcome<CleanupReport>> {
  const item = options.vmNames?.length === 1 ? options.vmNames[0]! : null;
  const body = async (job: JobContext): Promise<JobBodyResult<CleanupReport>> => {
    const value = await runCleanup(app, { ...options, signal: job.signal });
    await recordUsageQuietly(app);
    return {
      value,
      warnings: value.gcDeferred ? [value.gcDeferred] : [],
      result: { removedPoints: value.removedPoints, freedBytes: value.freedBytes, freedStoredBytes: value.freedStoredBytes, purgedItems: value.purgedItems },
    };
  };
  // The server queues the job first (to answer with it at once), then runs it.
  if (queued) return runJob(app.catalog, queued, body, { signal: options.signal });
  return runNewJob(app.catalog, { type: 'cleanup', item, trigger }, body, { signal: options.signal });
}
