import { BovedaError, type JobType } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkName, isoTime, type TimeInput } from './catalog-values.js';
import { firstActiveJob, insertJob, type StoredJob } from './job-catalog.js';

/** What tryClaim did: claimed (the queued job), or why not. */
export type ClaimAttempt =
  | { outcome: 'claimed'; job: StoredJob }
  | { outcome: 'claimed-elsewhere' }
  /** The item has a queued or in-progress job of an exclusive type (jobId names it). */
  | { outcome: 'busy'; jobId: string }
  /** maxScheduledBackups scheduled backups are queued or in progress already. */
  | { outcome: 'limit' };

export interface ClaimOptions {
  owner?: string | null;
  at?: TimeInput;
  /** Not claimed ('busy') while the item has a queued or in-progress job of one of these types. */
  exclusiveWith?: readonly JobType[];
  /** Not claimed ('limit') while this many scheduled backup jobs are queued or in progress (any item, any process). */
  maxScheduledBackups?: number;
}

export interface ScheduleClaim {
  vmName: string;
  /** The scheduled slot (ISO UTC). */
  slot: string;
  /** The scheduled backup job created for it. */
  jobId: string;
  claimedAt: string;
}

/**
 * Scheduler slot claims: the one place that decides which process runs a scheduled backup. A slot
 * (VM name, slot time) can be claimed once, ever — the table's primary key — so any number of
 * `serve` processes (or `scheduler tick` runs) on one data directory never run a slot twice.
 */
export class ScheduleCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /**
   * Claims `slot` for `vmName` and, in the same transaction, queues its scheduled backup job (with
   * `owner`) and advances the item's lastSlot (never backwards). Returns that job, or null when the
   * slot was claimed before (by this or another process). NOT_PROTECTED when the VM has no item;
   * INVALID_STATE when the item is not 'protected' (stopped or soft-deleted items get no backups).
   */
  async claim(vmName: string, slot: TimeInput, options: { owner?: string | null; at?: TimeInput } = {}): Promise<StoredJob | null> {
    const attempt = await this.tryClaim(vmName, slot, options);
    return attempt.outcome === 'claimed' ? attempt.job : null;
  }

  /**
   * claim, with the scheduler's conditions checked in the same write transaction as the claim: the
   * item must have no exclusive job running (`exclusiveWith`) and fewer than `maxScheduledBackups`
   * scheduled backups may be queued or running. Checking them before the claim instead would let two
   * processes (or an on-demand backup queued meanwhile) both pass the check: two backups of one VM
   * at once, or twice the limit.
   */
  async tryClaim(vmName: string, slot: TimeInput, options: ClaimOptions = {}): Promise<ClaimAttempt> {
    checkName(vmName, 'VM name');
    const clock = this.#access.clock;
    const slotIso = isoTime(slot, clock, 'slot');
    const at = isoTime(options.at, clock, 'claim time');
    return this.#access.write(`claim slot ${slotIso} of VM ${vmName}`, async (db): Promise<ClaimAttempt> => {
      const item = await db.selectFrom('protected_items').select(['id', 'state', 'last_slot']).where('vm_name', '=', vmName).executeTakeFirst();
      if (!item) throw new BovedaError('NOT_PROTECTED', `VM ${vmName} is not protected (no protected item; see "boveda protect")`);
      if (item.state !== 'protected') throw new BovedaError('INVALID_STATE', `the protected item of VM ${vmName} is ${item.state}: no scheduled backups`, { details: { state: item.state } });
      const taken = await db.selectFrom('schedule_claims').select('job_id').where('vm_name', '=', vmName).where('slot', '=', slotIso).executeTakeFirst();
      if (taken) return { outcome: 'claimed-elsewhere' };
      if (options.exclusiveWith && options.exclusiveWith.length > 0) {
        const busy = await firstActiveJob(db, vmName, options.exclusiveWith);
        if (busy) return { outcome: 'busy', jobId: busy.id };
      }
      if (options.maxScheduledBackups !== undefined) {
        const { count } = await db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('count'))
          .where('type', '=', 'backup').where('trigger', '=', 'scheduled').where('status', 'in', ['queued', 'in-progress']).executeTakeFirstOrThrow();
        if (Number(count) >= options.maxScheduledBackups) return { outcome: 'limit' };
      }
      const job = await insertJob(db, { type: 'backup', item: vmName, trigger: 'scheduled', slot: slotIso, owner: options.owner ?? null }, at, clock);
      await db.insertInto('schedule_claims').values({ vm_name: vmName, slot: slotIso, job_id: job.id, claimed_at: at }).execute();
      if (item.last_slot === null || item.last_slot < slotIso) {
        await db.updateTable('protected_items').set({ last_slot: slotIso, updated_at: at }).where('id', '=', item.id).execute();
      }
      return { outcome: 'claimed', job };
    });
  }

  /** The claim of the latest slot of `vmName`, or null when none was ever claimed. */
  async lastClaim(vmName: string): Promise<ScheduleClaim | null> {
    return this.#access.read(`read the last slot of VM ${vmName}`, async (db) => {
      const row = await db.selectFrom('schedule_claims').selectAll().where('vm_name', '=', vmName).orderBy('slot', 'desc').limit(1).executeTakeFirst();
      return row ? { vmName: row.vm_name, slot: row.slot, jobId: row.job_id, claimedAt: row.claimed_at } : null;
    });
  }

  /** The claim of one slot, or null. */
  async findClaim(vmName: string, slot: TimeInput): Promise<ScheduleClaim | null> {
    const slotIso = isoTime(slot, this.#access.clock, 'slot');
    return this.#access.read(`read slot ${slotIso} of VM ${vmName}`, async (db) => {
      const row = await db.selectFrom('schedule_claims').selectAll().where('vm_name', '=', vmName).where('slot', '=', slotIso).executeTakeFirst();
      return row ? { vmName: row.vm_name, slot: row.slot, jobId: row.job_id, claimedAt: row.claimed_at } : null;
    });
  }
}
