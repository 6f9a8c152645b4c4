import { billingState, estimateMonthlyCost, type BillingState, type CostEstimate, type PriceTable, type ProtectionState } from '../core/index.js';
import { PRICE_TABLE_SETTING } from '../catalog/index.js';
import { measureVaultUsageWithPoints, type PointManifest } from '../repository/index.js';
import type { AppContext } from './app-context.js';
import { pointProtectedBytes } from './point-records.js';

export interface VmUsage {
  vmName: string;
  /** null: the VM has points but no protected item (on-demand backups only, never protected). */
  state: ProtectionState | null;
  policyName: string | null;
  points: number;
  latestPointAt: string | null;
  /** Used bytes of the backed-up (non-temp) disks at the latest point: the protected instance size. */
  protectedBytes: number;
  /** Stored bytes of the distinct blocks of all its points (map pages included). */
  storedBytes: number;
  /** Of those, the bytes no other VM shares (freed if all its points went). */
  exclusiveStoredBytes: number;
  billing: BillingState;
  firstBackupAt: string | null;
  cost: CostEstimate | null;
}

export interface UsageReport {
  now: string;
  vms: VmUsage[];
  totals: {
    vms: number;
    billedVms: number;
    /** Sum of the protected sizes of billed VMs. */
    protectedBytes: number;
    /** Distinct stored bytes referenced by any point (shared blocks once). */
    storedBytes: number;
    /** Stored bytes of billed VMs (a block shared by two billed VMs counts for each). */
    billedStoredBytes: number;
    /** Every object of the vault on its storage, garbage not yet collected included. */
    vaultBytes: number;
    cost: CostEstimate | null;
  };
  priceTable: PriceTable | null;
}

/**
 * Usage and billing per VM from the vault (exact block accounting) and the catalog (states):
 * billing starts with the first successful backup, continues while data is kept (protected, stopped
 * with retained data — billed on its last point's size — or points kept without protection), and
 * stops while soft-deleted or once the data is gone. With a price table (`usage --prices FILE`, or the
 * one stored with `settings price-table`), each billed VM gets a monthly estimate.
 */
export async function usageReport(app: AppContext, options: { priceTable?: PriceTable | null; signal?: AbortSignal } = {}): Promise<UsageReport> {
  const vault = await app.vault();
  const { usage, points } = await measureVaultUsageWithPoints(vault, options.signal, { subjects: true });
  const priceTable = options.priceTable !== undefined ? options.priceTable : await app.catalog.settings.get<PriceTable | null>(PRICE_TABLE_SETTING, null);
  const latest = new Map<string, PointManifest>();
  const counts = new Map<string, number>();
  for (const point of points) {
    counts.set(point.subject, (counts.get(point.subject) ?? 0) + 1);
    const current = latest.get(point.subject);
    if (!current || current.createdAt < point.createdAt) latest.set(point.subject, point);
  }
  const items = new Map((await app.catalog.items.list()).map((item) => [item.vmName, item]));
  const names = [...new Set([...items.keys(), ...latest.keys()])].sort();
  const subjectUsage = new Map((usage.subjects ?? []).map((entry) => [entry.subject, entry]));
  const vms: VmUsage[] = names.map((vmName) => {
    const item = items.get(vmName) ?? null;
    const point = latest.get(vmName);
    const hasBackup = point !== undefined || (item?.firstBackupAt ?? null) !== null;
    // Points kept without a protected item are data kept all the same: billed like retained data.
    const billing: BillingState = item === null ? (point ? 'billed' : 'not-billed') : billingState(item, hasBackup && point !== undefined);
    const protectedBytes = point ? pointProtectedBytes(point) : 0;
    const stored = subjectUsage.get(vmName);
    const storedBytes = stored?.storedBytes ?? 0;
    return {
      vmName, state: item?.state ?? null, policyName: item?.policyName ?? null, points: counts.get(vmName) ?? 0,
      latestPointAt: point?.createdAt ?? null, protectedBytes, storedBytes, exclusiveStoredBytes: stored?.exclusiveStoredBytes ?? 0,
      billing, firstBackupAt: item?.firstBackupAt ?? (point ? earliest(points, vmName) : null),
      cost: priceTable && billing === 'billed' ? estimateMonthlyCost(protectedBytes, storedBytes, priceTable) : null,
    };
  });
  const billed = vms.filter((vm) => vm.billing === 'billed');
  const sumCost = (part: 'instanceFee' | 'storageFee' | 'total') => billed.reduce((sum, vm) => sum + (vm.cost?.[part] ?? 0), 0);
  return {
    now: app.clock.now().toISOString(),
    vms,
    totals: {
      vms: vms.length,
      billedVms: billed.length,
      protectedBytes: billed.reduce((sum, vm) => sum + vm.protectedBytes, 0),
      storedBytes: usage.liveStoredBytes,
      billedStoredBytes: billed.reduce((sum, vm) => sum + vm.storedBytes, 0),
      vaultBytes: usage.totalStoredBytes,
      cost: priceTable ? { instanceFee: round(sumCost('instanceFee')), storageFee: round(sumCost('storageFee')), total: round(sumCost('total')), tier: -1 } : null,
    },
    priceTable,
  };
}

function earliest(points: readonly PointManifest[], vmName: string): string | null {
  let found: string | null = null;
  for (const point of points) if (point.subject === vmName && (found === null || point.createdAt < found)) found = point.createdAt;
  return found;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
