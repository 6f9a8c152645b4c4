import { dueSlot, isBovedaError, spreadOffsetMs, type Schedule } from '../core/index.js';
import { currentJobOwner, type Catalog, type ClaimAttempt, type StoredJob } from '../catalog/index.js';
import type { Clock } from '../util/index.js';

/** A scheduled backup waits (next tick) while the VM has a backup, scheduled or on demand, queued or running. */
const EXCLUSIVE_WITH_BACKUP = ['backup'] as const;

/** Runs a claimed scheduled backup job to its end (the app layer's backup job); must not throw for a failed backup. */
export type ScheduledBackupHandler = (job: StoredJob, signal: AbortSignal) => Promise<unknown>;

export interface SchedulerOptions {
  catalog: Catalog;
  clock: Clock;
  runBackup: ScheduledBackupHandler;
  /** Scheduled backups running at once across every process of the data directory (default 2). */
  maxConcurrentBackups?: number;
  /** VMs sharing a start time start spread over this window, each at a fixed offset (default 10 min). */
  spreadWindowMs?: number;
  /**
   * failOrphans at each tick fails in-progress jobs whose heartbeat is older than this (default: the
   * catalog's). A scheduler on a shifted clock (`--now`) passes Infinity: other processes' heartbeats
   * are on the real clock, so their age means nothing to it (it would fail live jobs); it still fails
   * the jobs of dead processes.
   */
  orphanStaleAfterMs?: number;
}

/** What one tick decided for each protected item with a due slot. */
export interface TickEntry {
  vmName: string;
  slot: string;
  /** slot + the VM's spread offset: not started before. */
  startAt: string;
  outcome: 'started' | 'waiting-for-spread' | 'busy' | 'limit' | 'claimed-elsewhere' | 'not-protected' | 'stopping';
  jobId?: string;
}

export interface TickReport {
  now: string;
  entries: TickEntry[];
  /** The jobs this tick started, settled when they end. */
  running: Promise<unknown>[];
  /** Jobs whose process died, failed by this tick. */
  orphansFailed: StoredJob[];
}

/**
 * The scheduler: on each tick, finds the protected items whose policy has a slot due (the latest
 * slot not yet claimed, at or after protection — so after downtime an item catches up once, not
 * once per missed slot), waits out each VM's spread offset, and claims the slot in the catalog —
 * the claim is unique per (VM, slot), so two `serve` processes never run a slot twice — then hands
 * the queued job to the backup handler. A VM with a backup running (scheduled or on demand) is
 * left for the next tick; so are items over the concurrency limit. Pure decisions come from core
 * (dueSlot, spreadOffsetMs); this layer only sequences them over the catalog.
 */
export class Scheduler {
  /** orphanStaleAfterMs stays optional: failOrphans has the default. */
  readonly #options: Required<Omit<SchedulerOptions, 'orphanStaleAfterMs'>> & Pick<SchedulerOptions, 'orphanStaleAfterMs'>;
  readonly #running = new Set<Promise<unknown>>();
  readonly #controller = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<TickReport> | undefined;

  constructor(options: SchedulerOptions) {
    this.#options = { maxConcurrentBackups: 2, spreadWindowMs: 10 * 60_000, ...options };
  }

  /** One pass. Jobs it starts keep running after it returns (see report.running). */
  async tick(now: Date = this.#options.clock.now()): Promise<TickReport> {
    const { catalog } = this.#options;
    const orphansFailed = await catalog.jobs.failOrphans({ at: now, staleAfterMs: this.#options.orphanStaleAfterMs });
    const items = await catalog.items.list({ states: ['protected'] });
    const policies = new Map((await catalog.policies.list()).map((policy) => [policy.name, policy]));
    const entries: TickEntry[] = [];
    const started: Promise<unknown>[] = [];
    for (const item of items) {
      const policy = item.policyName === null ? undefined : policies.get(item.policyName);
      if (!policy) continue;
      const slot = dueSlot(policy.schedule, {
        lastSlot: item.lastSlot === null ? null : new Date(item.lastSlot), since: new Date(item.protectedAt), now,
      });
      if (slot === null) continue;
      const startAt = new Date(slot.getTime() + spreadOffsetMs(item.vmName, this.#spreadWindow(policy.schedule)));
      const entry: TickEntry = { vmName: item.vmName, slot: slot.toISOString(), startAt: startAt.toISOString(), outcome: 'waiting-for-spread' };
      entries.push(entry);
      if (startAt.getTime() > now.getTime()) continue;
      // A stopping scheduler claims nothing more: a claimed slot is never run again.
      if (this.#controller.signal.aborted) {
        entry.outcome = 'stopping';
        continue;
      }
      let attempt: ClaimAttempt;
      try {
        // Busy and limit are checked in the claim's transaction: checked before it, two processes
        // (or an on-demand backup queued meanwhile) could both pass.
        attempt = await catalog.schedule.tryClaim(item.vmName, slot, {
          owner: currentJobOwner(), at: now, exclusiveWith: EXCLUSIVE_WITH_BACKUP, maxScheduledBackups: this.#options.maxConcurrentBackups,
        });
      } catch (error) {
        // Stopped or deleted between the list and the claim: no backup.
        if (isBovedaError(error, 'INVALID_STATE') || isBovedaError(error, 'NOT_PROTECTED')) {
          entry.outcome = 'not-protected';
          continue;
        }
        throw error;
      }
      if (attempt.outcome !== 'claimed') {
        entry.outcome = attempt.outcome;
        continue;
      }
      const job = attempt.job;
      entry.outcome = 'started';
      entry.jobId = job.id;
      const run = this.#options.runBackup(job, this.#controller.signal).catch(() => undefined);
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
      started.push(run);
    }
    return { now: now.toISOString(), entries, running: started, orphansFailed };
  }

  /** Ticks every `intervalMs` until stop(); a tick never overlaps the previous one. */
  start(intervalMs: number, onTick?: (report: TickReport) => void, onError?: (error: unknown) => void): void {
    if (this.#timer) return;
    const run = () => {
      if (this.#ticking) return;
      this.#ticking = this.tick();
      this.#ticking.then((report) => onTick?.(report), (error: unknown) => onError?.(error)).finally(() => (this.#ticking = undefined));
    };
    this.#timer = setInterval(run, intervalMs);
    run();
  }

  /** Stops ticking, cancels running backups (their jobs end as cancelled) and waits for them. Idempotent. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    // Abort first: a tick under way then claims no more slots (a claimed slot is never run again).
    this.#controller.abort();
    await this.#ticking?.catch(() => undefined);
    await Promise.allSettled([...this.#running]);
  }

  /** The spread window, never more than half the time between an hourly schedule's slots. */
  #spreadWindow(schedule: Schedule): number {
    const window = this.#options.spreadWindowMs;
    return schedule.kind === 'hourly' ? Math.min(window, (schedule.everyHours * 3_600_000) / 2) : window;
  }
}
