import { isBovedaError } from '../core/index.js';
import { collectGarbage, deletePoint, measureRemovalSavings, type GcReport, type Vault } from '../repository/index.js';
import { throwIfAborted } from '../util/index.js';

export interface ExpirePointsOptions {
  /** Measure what would be freed; change nothing. */
  dryRun?: boolean;
  /** Run gc afterwards so the space is really released (default true). */
  collectGarbage?: boolean;
  /** How long gc waits for running backups' locks before it is deferred to the next cleanup (default 60 s). */
  gcWaitMs?: number;
  signal?: AbortSignal;
}

export interface ExpirePointsReport {
  dryRun: boolean;
  /** The points removed (or, on a dry run, that would be). */
  removed: string[];
  /** Blocks no remaining point needs — the rest carry over to the points that still reference them. */
  freedBlocks: number;
  freedBytes: number;
  freedStoredBytes: number;
  gc: GcReport | null;
  /** Why gc did not run now (another process held the vault); the next cleanup frees the space. */
  gcDeferred: string | null;
}

/**
 * Removes recovery points and frees exactly the blocks no remaining point references — the seeds'
 * merge: the blocks an expired point shares with a later one stay (the later one becomes the
 * baseline), the ones overwritten since are freed. Freed bytes are measured before anything is
 * deleted, over the whole vault. Deleting is per point (a tombstone, then the manifest), so an
 * interruption leaves every point either whole or gone; gc then releases the space under the
 * exclusive lock, or is deferred when backups hold the vault longer than gcWaitMs.
 */
export async function expirePoints(vault: Vault, pointIds: readonly string[], options: ExpirePointsOptions = {}): Promise<ExpirePointsReport> {
  const savings = await measureRemovalSavings(vault, pointIds, options.signal);
  const report: ExpirePointsReport = {
    dryRun: options.dryRun === true, removed: savings.pointIds, freedBlocks: savings.freedBlocks, freedBytes: savings.freedBytes,
    freedStoredBytes: savings.freedStoredBytes, gc: null, gcDeferred: null,
  };
  if (options.dryRun || savings.pointIds.length === 0) return report;
  for (const pointId of savings.pointIds) {
    throwIfAborted(options.signal, 'removing expired recovery points');
    try {
      await deletePoint(vault, pointId);
    } catch (error) {
      // Another cleanup removed it meanwhile: the outcome is the one wanted.
      if (!isBovedaError(error, 'POINT_NOT_FOUND')) throw error;
    }
  }
  if (options.collectGarbage === false) return report;
  try {
    report.gc = await collectGarbage(vault, { waitMs: options.gcWaitMs ?? 60_000, signal: options.signal });
  } catch (error) {
    if (!isBovedaError(error, 'VAULT_LOCKED')) throw error;
    report.gcDeferred = `${error.message}; the space is released by the next cleanup`;
  }
  return report;
}
