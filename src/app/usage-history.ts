import type { UsageSample } from '../catalog/index.js';
import type { AppContext } from './app-context.js';

const DAY_MS = 86_400_000;

/**
 * Appends one usage sample for the vault and one per VM with points, computed from the catalog's
 * points mirror only (no vault pass, so it is cheap enough to run after every backup and cleanup).
 * Protected bytes: the latest point's used size. Stored bytes: the measured stored bytes the points
 * introduced when an accounting pass measured them, else the stored bytes each backup reported
 * writing — an estimate that undercounts blocks introduced by points since removed (`boveda usage`
 * measures exactly).
 */
export async function recordUsageSamples(app: AppContext): Promise<UsageSample[]> {
  const time = app.clock.now().toISOString();
  const points = await app.catalog.points.listAll();
  const byVm = new Map<string, { points: number; storedBytes: number; protectedBytes: number; latestAt: string }>();
  for (const point of points) {
    const entry = byVm.get(point.vmName) ?? { points: 0, storedBytes: 0, protectedBytes: 0, latestAt: '' };
    entry.points++;
    entry.storedBytes += point.introducedStoredBytes ?? reportedStoredBytes(point.meta);
    if (point.createdAt >= entry.latestAt) {
      entry.latestAt = point.createdAt;
      entry.protectedBytes = point.protectedBytes;
    }
    byVm.set(point.vmName, entry);
  }
  const samples: UsageSample[] = [...byVm].map(([vmName, entry]) => ({ time, vmName, protectedBytes: entry.protectedBytes, storedBytes: entry.storedBytes, points: entry.points }));
  samples.push({
    time, vmName: null, points: points.length,
    protectedBytes: samples.reduce((sum, sample) => sum + sample.protectedBytes, 0),
    storedBytes: samples.reduce((sum, sample) => sum + sample.storedBytes, 0),
  });
  await app.catalog.usage.add(samples);
  return samples;
}

/** Samples of the last `days` days (default 30), oldest first: one VM's, or the vault totals when vmName is absent. */
export async function usageHistory(app: AppContext, options: { vmName?: string; days?: number } = {}): Promise<UsageSample[]> {
  const since = new Date(app.clock.now().getTime() - (options.days ?? 30) * DAY_MS);
  return app.catalog.usage.list({ vmName: options.vmName ?? null, since });
}

function reportedStoredBytes(meta: Record<string, unknown>): number {
  const disks = Array.isArray(meta.disks) ? (meta.disks as { stats?: { newStoredBytes?: unknown } }[]) : [];
  return disks.reduce((sum, disk) => sum + (typeof disk.stats?.newStoredBytes === 'number' ? disk.stats.newStoredBytes : 0), 0);
}

/** Records samples, never failing the job that asks: history is a convenience, the job's work is done. */
export async function recordUsageQuietly(app: AppContext): Promise<void> {
  await recordUsageSamples(app).catch(() => undefined);
}
