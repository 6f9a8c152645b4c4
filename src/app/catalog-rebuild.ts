import { measureVaultUsageWithPoints } from '../repository/index.js';
import type { AppContext } from './app-context.js';
import { pointRecord } from './point-records.js';

export interface CatalogRebuildReport {
  points: number;
  vms: string[];
  /** Catalog rows of points the vault no longer has (removed), and vault points the catalog lacked (added). */
  removed: number;
  added: number;
}

/**
 * Recreates the catalog's recovery points from the vault alone (with exact accounting), in one
 * transaction: the vault is the truth, the catalog a mirror. Policies, items and jobs are not in
 * the vault and are left as they are.
 */
export async function rebuildCatalogPoints(app: AppContext, signal?: AbortSignal): Promise<CatalogRebuildReport> {
  const vault = await app.vault();
  const { usage, points } = await measureVaultUsageWithPoints(vault, signal);
  const usageById = new Map(usage.points.map((entry) => [entry.pointId, entry]));
  const before = new Set((await app.catalog.points.listAll()).map((row) => row.id));
  const rows = points.map((point) => pointRecord(point, usageById.get(point.pointId)));
  await app.catalog.points.replaceAll(rows);
  const after = new Set(rows.map((row) => row.id));
  return {
    points: rows.length,
    vms: [...new Set(rows.map((row) => row.vmName))].sort(),
    removed: [...before].filter((id) => !after.has(id)).length,
    added: [...after].filter((id) => !before.has(id)).length,
  };
}
