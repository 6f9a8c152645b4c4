import type { CatalogAccess } from './catalog-access.js';
import { checkBytes, clampLimit, isoTime, type TimeInput } from './catalog-values.js';

/** One usage measurement: the whole vault (vmName null) or one VM, at a time. */
export interface UsageSample {
  time: string;
  vmName: string | null;
  protectedBytes: number;
  storedBytes: number;
  points: number;
}

export interface UsageSampleInput extends Omit<UsageSample, 'time'> {
  time?: TimeInput;
}

export interface UsageSampleFilter {
  /** A VM's samples; null: the vault totals; absent: both. */
  vmName?: string | null;
  /** Only samples at or after this time. */
  since?: TimeInput;
  /** At most this many, the newest (default 10,000). */
  limit?: number;
}

/**
 * Usage over time (table usage_samples): appended after backups and cleanups so the UI can chart
 * growth without measuring the vault again. Samples are never changed; listing is oldest first.
 */
export class UsageCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** Appends samples in one transaction (all taken at the same time). */
  async add(samples: readonly UsageSampleInput[]): Promise<void> {
    if (samples.length === 0) return;
    const rows = samples.map((sample) => ({
      time: isoTime(sample.time, this.#access.clock, 'usage sample time'),
      vm_name: sample.vmName,
      protected_bytes: checkBytes(sample.protectedBytes, 'protected bytes'),
      stored_bytes: checkBytes(sample.storedBytes, 'stored bytes'),
      points: checkBytes(sample.points, 'points'),
    }));
    await this.#access.write(`record ${rows.length} usage sample${rows.length === 1 ? '' : 's'}`, async (db) => {
      for (const row of rows) await db.insertInto('usage_samples').values(row).execute();
    });
  }

  async list(filter: UsageSampleFilter = {}): Promise<UsageSample[]> {
    const limit = clampLimit(filter.limit, 10_000, 10_000);
    const since = filter.since === undefined ? undefined : isoTime(filter.since, this.#access.clock, 'usage history start');
    return this.#access.read('list usage samples', async (db) => {
      let query = db.selectFrom('usage_samples').selectAll().orderBy('time', 'desc').orderBy('id', 'desc').limit(limit);
      if (filter.vmName === null) query = query.where('vm_name', 'is', null);
      else if (filter.vmName !== undefined) query = query.where('vm_name', '=', filter.vmName);
      if (since !== undefined) query = query.where('time', '>=', since);
      return (await query.execute()).reverse().map((row) => ({
        time: row.time, vmName: row.vm_name, protectedBytes: row.protected_bytes, storedBytes: row.stored_bytes, points: row.points,
      }));
    });
  }
}
