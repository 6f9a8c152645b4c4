import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Updateable } from 'kysely';
import { BovedaError, isFinished, JOB_TYPES, type JobError, type JobProgress, type JobRecord, type JobStatus, type JobTrigger, type JobType } from '../core/index.js';
import type { Clock } from '../util/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkName, fromJson, isoTime, toJson, type TimeInput } from './catalog-values.js';
import { isJobOwnerAlive, parseJobOwner } from './job-owner.js';
import type { CatalogSchema, JobsTable } from './schema.js';

type Db = Kysely<CatalogSchema>;

/** A job as the catalog keeps it: the core JobRecord plus who runs it and when it last reported. */
export interface StoredJob extends JobRecord {
  /** "pid@host" of the process running (or that queued) the job, or null. */
  owner: string | null;
  /** The last sign of life (start, progress) of the running process (ISO UTC), or null. */
  heartbeatAt: string | null;
}

export interface NewJob {
  type: JobType;
  /** The VM name; null or absent for vault-wide jobs. */
  item?: string | null;
  trigger: JobTrigger;
  /** The scheduled slot (ISO UTC) of a scheduled backup. */
  slot?: TimeInput | null;
  /** "pid@host" of the process that will run it (see currentJobOwner): lets failOrphans fail it if that process dies first. */
  owner?: string | null;
  /** Refuse (VM_BUSY, naming the job) while the item has a queued or in-progress job of one of these types. */
  exclusiveWith?: readonly JobType[];
}

/** How a job ended. */
export interface JobOutcome {
  status: 'completed' | 'completed-with-warnings' | 'failed' | 'cancelled';
  /** Required for 'failed'; allowed for 'cancelled'; refused otherwise. */
  error?: JobError | null;
  result?: Record<string, unknown> | null;
  /** Appended to the warnings the job already has. */
  warnings?: readonly string[];
}

export interface JobFilter {
  status?: JobStatus | readonly JobStatus[];
  item?: string;
  type?: JobType;
  /** At most this many (the newest). */
  limit?: number;
}

/** Heartbeats older than this make failOrphans fail an in-progress job whatever its owner: 10 minutes. */
export const DEFAULT_JOB_STALE_MS = 10 * 60 * 1000;

const ACTIVE: JobStatus[] = ['queued', 'in-progress'];

/**
 * Jobs: every backup, restore, cleanup, verify and gc run, with progress, warnings, error and result.
 * Statuses move forward only (core/job.ts), each move one transaction that checks the status it
 * moves from, so a cancel and a start (or two processes) racing on one job cannot both win:
 *   create → queued; start: queued → in-progress (false if cancelled meanwhile);
 *   finish: in-progress → completed | completed-with-warnings | failed | cancelled;
 *   requestCancel: queued → cancelled at once, in-progress → cancelRequested (the runner sees it in
 *   the job progress() returns and finishes it as cancelled);
 *   failOrphans: queued/in-progress jobs whose process died → failed.
 * Ids are "YYYYMMDD-HHMMSS-xxxxxx": the UTC queueing time plus 6 random hex digits; any unique
 * prefix names a job (resolve). Lists are newest first (queueing time, then insertion order).
 * (Only type imports from Kysely here: importing the catalog must not load it; see index.ts.)
 */
export class JobCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** Queues a job (queuedAt = `at` or now). INVALID_ARGUMENT for an unknown type; VM_BUSY (see NewJob.exclusiveWith). */
  async create(job: NewJob, at?: TimeInput): Promise<StoredJob> {
    const when = isoTime(at, this.#access.clock, 'queueing time');
    return this.#access.write(`queue a ${job.type} job`, async (db) => {
      if (job.exclusiveWith && job.exclusiveWith.length > 0 && job.item) {
        const busy = await firstActiveJob(db, job.item, job.exclusiveWith);
        if (busy) {
          const owner = busy.owner === null ? null : parseJobOwner(busy.owner);
          const where = owner ? ` (pid ${owner.pid} on ${owner.host}, since ${busy.started_at ?? busy.queued_at})` : '';
          throw new BovedaError('VM_BUSY', `VM "${job.item}" is busy: ${busy.type} job ${busy.id} is ${busy.status === 'queued' ? 'queued' : 'in progress'}${where}`, {
            details: { jobId: busy.id },
          });
        }
      }
      return insertJob(db, job, when, this.#access.clock);
    });
  }

  /** JOB_NOT_FOUND when no job has exactly this id. */
  async get(id: string): Promise<StoredJob> {
    return this.#access.read(`read job ${id}`, (db) => loadJob(db, id));
  }

  /** The job, or null. */
  async find(id: string): Promise<StoredJob | null> {
    return this.#access.read(`read job ${id}`, async (db) => {
      const row = await findRow(db, id);
      return row ? toRecord(row) : null;
    });
  }

  /**
   * The job whose id is `idOrPrefix` or the only one starting with it. JOB_NOT_FOUND when none
   * does; INVALID_ARGUMENT (naming some matches) when several do or the prefix is empty.
   */
  async resolve(idOrPrefix: string): Promise<StoredJob> {
    if (typeof idOrPrefix !== 'string' || idOrPrefix.trim() === '') throw new BovedaError('INVALID_ARGUMENT', 'a job id (or a prefix of one) is required');
    const prefix = idOrPrefix.trim();
    return this.#access.read(`find job ${prefix}`, async (db) => {
      const exact = await findRow(db, prefix);
      if (exact) return toRecord(exact);
      const matches = await db
        .selectFrom('jobs')
        .selectAll()
        .where((eb) => eb.fn<string>('substr', ['id', eb.val(1), eb.val(prefix.length)]), '=', prefix)
        .orderBy('queued_at', 'desc')
        .orderBy('seq', 'desc')
        .limit(6)
        .execute();
      if (matches.length === 0) throw new BovedaError('JOB_NOT_FOUND', `no job with id ${JSON.stringify(prefix)} or an id starting with it (see "boveda jobs")`);
      if (matches.length > 1) {
        const shown = matches.slice(0, 5).map((row) => row.id).join(', ');
        throw new BovedaError('INVALID_ARGUMENT', `job id prefix ${JSON.stringify(prefix)} is ambiguous: it matches ${shown}${matches.length > 5 ? ', …' : ''}; give more of the id`);
      }
      return toRecord(matches[0]!);
    });
  }

  /** Jobs newest first, filtered. */
  async list(filter: JobFilter = {}): Promise<StoredJob[]> {
    if (filter.limit !== undefined && (!Number.isSafeInteger(filter.limit) || filter.limit < 1)) {
      throw new BovedaError('INVALID_ARGUMENT', `job list limit must be a positive integer, got ${String(filter.limit)}`);
    }
    return this.#access.read('list jobs', async (db) => {
      let query = db.selectFrom('jobs').selectAll();
      if (filter.status !== undefined) {
        const statuses = typeof filter.status === 'string' ? [filter.status] : [...filter.status];
        if (statuses.length === 0) return [];
        query = query.where('status', 'in', statuses);
      }
      if (filter.item !== undefined) query = query.where('item', '=', filter.item);
      if (filter.type !== undefined) query = query.where('type', '=', filter.type);
      query = query.orderBy('queued_at', 'desc').orderBy('seq', 'desc');
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      return (await query.execute()).map(toRecord);
    });
  }

  /** The item's queued and in-progress jobs (of `type` only, when given), newest first. */
  async running(item: string, type?: JobType): Promise<StoredJob[]> {
    return this.#access.read(`list the running jobs of ${item}`, async (db) => (await activeRows(db, item, type ? [type] : undefined)).map(toRecord));
  }

  /**
   * queued → in-progress, recording the owner ("pid@host") and the start as first heartbeat.
   * False (nothing changed) when the job was cancelled before it started; JOB_NOT_FOUND;
   * INVALID_STATE for any other status.
   */
  async start(id: string, owner: string, at?: TimeInput): Promise<boolean> {
    checkName(owner, 'job owner');
    const when = isoTime(at, this.#access.clock, 'start time');
    return this.#access.write(`start job ${id}`, async (db) => {
      const row = await getRow(db, id);
      if (row.status === 'cancelled' && row.started_at === null) return false;
      if (row.status !== 'queued') throw wrongStatus(row, 'started');
      await db.updateTable('jobs').set({ status: 'in-progress', started_at: when, owner, heartbeat_at: when }).where('seq', '=', row.seq).execute();
      return true;
    });
  }

  /**
   * Records progress of an in-progress job (given fields only) and a heartbeat; returns the job, whose
   * cancelRequested tells the runner to stop. INVALID_STATE when the job is not in progress (e.g.
   * failOrphans declared its process dead): the runner should stop then too.
   */
  async progress(id: string, progress: Partial<JobProgress>, at?: TimeInput): Promise<StoredJob> {
    const when = isoTime(at, this.#access.clock, 'progress time');
    const set: Updateable<JobsTable> = { heartbeat_at: when };
    if (progress.bytesDone !== undefined) set.bytes_done = checkNumber(progress.bytesDone, 'bytesDone');
    if (progress.bytesTotal !== undefined) set.bytes_total = progress.bytesTotal === null ? null : checkNumber(progress.bytesTotal, 'bytesTotal');
    if (progress.percent !== undefined) set.percent = progress.percent === null ? null : checkNumber(progress.percent, 'percent');
    if (progress.bytesPerSecond !== undefined) set.bytes_per_second = progress.bytesPerSecond === null ? null : checkNumber(progress.bytesPerSecond, 'bytesPerSecond');
    return this.#access.write(`record the progress of job ${id}`, async (db) => {
      const row = await getRow(db, id);
      if (row.status !== 'in-progress') throw wrongStatus(row, 'given progress');
      await db.updateTable('jobs').set(set).where('seq', '=', row.seq).execute();
      return loadJob(db, id);
    });
  }

  /** Adds a warning to a queued or in-progress job. INVALID_STATE once it ended. */
  async addWarning(id: string, warning: string): Promise<StoredJob> {
    checkName(warning, 'warning');
    return this.#access.write(`add a warning to job ${id}`, async (db) => {
      const row = await getRow(db, id);
      if (isFinished(row.status)) throw wrongStatus(row, 'given a warning');
      await db.updateTable('jobs').set({ warnings: toJson([...fromJson<string[]>(row.warnings), warning], 'warnings') }).where('seq', '=', row.seq).execute();
      return loadJob(db, id);
    });
  }

  /**
   * in-progress → the outcome's status (endedAt = `at` or now). 'completed' with warnings (earlier
   * ones or the outcome's) is stored as 'completed-with-warnings'. INVALID_STATE when the job is not
   * in progress; INVALID_ARGUMENT for an outcome that does not fit its status.
   */
  async finish(id: string, outcome: JobOutcome, at?: TimeInput): Promise<StoredJob> {
    const ends = ['completed', 'completed-with-warnings', 'failed', 'cancelled'];
    if (!ends.includes(outcome.status)) throw new BovedaError('INVALID_ARGUMENT', `a job cannot finish as ${JSON.stringify(outcome.status)} (expected ${ends.join(', ')})`);
    const error = outcome.error ?? null;
    if (outcome.status === 'failed' && error === null) throw new BovedaError('INVALID_ARGUMENT', `job ${id} cannot fail without an error code and message`);
    if (error !== null) {
      if (outcome.status !== 'failed' && outcome.status !== 'cancelled') throw new BovedaError('INVALID_ARGUMENT', `job ${id} cannot be ${outcome.status} with an error`);
      checkName(error.code, 'job error code');
      checkName(error.message, 'job error message');
    }
    for (const warning of outcome.warnings ?? []) checkName(warning, 'warning');
    const result = outcome.result === undefined || outcome.result === null ? null : toJson(outcome.result, `result of job ${id}`);
    const when = isoTime(at, this.#access.clock, 'end time');
    return this.#access.write(`finish job ${id}`, async (db) => {
      const row = await getRow(db, id);
      if (row.status !== 'in-progress') throw wrongStatus(row, `finished as ${outcome.status}`);
      const warnings = [...fromJson<string[]>(row.warnings), ...(outcome.warnings ?? [])];
      const status = outcome.status === 'completed' && warnings.length > 0 ? 'completed-with-warnings' : outcome.status;
      await db
        .updateTable('jobs')
        .set({ status, ended_at: when, warnings: toJson(warnings, 'warnings'), error_code: error?.code ?? null, error_message: error?.message ?? null, result })
        .where('seq', '=', row.seq)
        .execute();
      return loadJob(db, id);
    });
  }

  /**
   * `job cancel`: a queued job becomes cancelled at once; an in-progress one gets cancelRequested
   * (its process stops it; idempotent). INVALID_STATE for a job that already ended. Returns the job after.
   */
  async requestCancel(id: string, at?: TimeInput): Promise<StoredJob> {
    const when = isoTime(at, this.#access.clock, 'cancel time');
    return this.#access.write(`cancel job ${id}`, async (db) => {
      const row = await getRow(db, id);
      if (row.status === 'queued') {
        await db.updateTable('jobs').set({ status: 'cancelled', ended_at: when, cancel_requested: 1 }).where('seq', '=', row.seq).execute();
      } else if (row.status === 'in-progress') {
        await db.updateTable('jobs').set({ cancel_requested: 1 }).where('seq', '=', row.seq).execute();
      } else {
        throw wrongStatus(row, 'cancelled');
      }
      return loadJob(db, id);
    });
  }

  /**
   * Fails the jobs no process will ever finish, and returns them: in-progress jobs whose owner is a
   * dead process (`isOwnerAlive`, default: the pid does not exist on this host) or whose heartbeat
   * is older than `staleAfterMs` before `at`; queued jobs whose owner is dead. Their error is
   * INTERNAL with a message naming the process. A job that moves meanwhile (a heartbeat, a finish)
   * is left alone. Call it when `serve` starts and periodically, and before listing jobs.
   */
  async failOrphans(options: { isOwnerAlive?: (owner: string) => boolean; staleAfterMs?: number; at?: TimeInput } = {}): Promise<StoredJob[]> {
    const isAlive = options.isOwnerAlive ?? isJobOwnerAlive;
    const staleAfterMs = options.staleAfterMs ?? DEFAULT_JOB_STALE_MS;
    const now = isoTime(options.at, this.#access.clock, 'orphan check time');
    const nowMs = Date.parse(now);
    const candidates = await this.#access.read('look for orphaned jobs', (db) => db.selectFrom('jobs').selectAll().where('status', 'in', ACTIVE).execute());
    const orphans: Array<{ row: Selectable<JobsTable>; message: string }> = [];
    for (const row of candidates) {
      const who = describeOwner(row.owner);
      if (row.owner !== null && !isAlive(row.owner)) {
        orphans.push({ row, message: row.status === 'queued' ? `the process that queued the job (${who}) died before starting it` : `the process running the job (${who}) died` });
      } else if (row.status === 'in-progress') {
        const last = row.heartbeat_at ?? row.started_at;
        if (last !== null && nowMs - Date.parse(last) > staleAfterMs) {
          orphans.push({ row, message: `the process running the job (${who}) stopped reporting: its last heartbeat was at ${last}, more than ${Math.round(staleAfterMs / 1000)} s before ${now}` });
        }
      }
    }
    if (orphans.length === 0) return [];
    return this.#access.write('fail orphaned jobs', async (db) => {
      const failed: StoredJob[] = [];
      for (const { row, message } of orphans) {
        const result = await db
          .updateTable('jobs')
          .set({ status: 'failed', ended_at: now, error_code: 'INTERNAL', error_message: message })
          .where('seq', '=', row.seq)
          .where('status', '=', row.status)
          .where('heartbeat_at', 'is', row.heartbeat_at)
          .executeTakeFirst();
        if (Number(result.numUpdatedRows) === 1) failed.push(await loadJob(db, row.id));
      }
      return failed;
    });
  }
}

function describeOwner(owner: string | null): string {
  if (owner === null) return 'owner unknown';
  const parsed = parseJobOwner(owner);
  return parsed ? `pid ${parsed.pid} on ${parsed.host}` : owner;
}

function checkNumber(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new BovedaError('INVALID_ARGUMENT', `job progress ${what} must be a non-negative number, got ${JSON.stringify(value)}`);
  return value;
}

function wrongStatus(row: Selectable<JobsTable>, action: string): BovedaError {
  const what = isFinished(row.status) ? `already ended (${row.status})` : `is ${row.status}`;
  return new BovedaError('INVALID_STATE', `job ${row.id} ${what} and cannot be ${action}`, { details: { status: row.status } });
}

/** A new job id: UTC time of `iso` as YYYYMMDD-HHMMSS, a dash, 6 random hex digits. */
export function newJobId(iso: string): string {
  const digits = iso.replace(/[-:T]/g, '');
  return `${digits.slice(0, 8)}-${digits.slice(8, 14)}-${randomBytes(3).toString('hex')}`;
}

/** Inserts a queued job inside the caller's transaction (the schedule's claim uses it too). */
export async function insertJob(db: Db, job: NewJob, queuedAt: string, clock: Clock): Promise<StoredJob> {
  if (!(JOB_TYPES as readonly string[]).includes(job.type)) throw new BovedaError('INVALID_ARGUMENT', `unknown job type ${JSON.stringify(job.type)} (expected ${JOB_TYPES.join(', ')})`);
  if (job.trigger !== 'scheduled' && job.trigger !== 'on-demand') throw new BovedaError('INVALID_ARGUMENT', `unknown job trigger ${JSON.stringify(job.trigger)} (expected scheduled, on-demand)`);
  const item = job.item === undefined || job.item === null ? null : checkName(job.item, 'job item');
  const owner = job.owner === undefined || job.owner === null ? null : checkName(job.owner, 'job owner');
  const slot = job.slot === undefined || job.slot === null ? null : isoTime(job.slot, clock, 'slot');
  let id = newJobId(queuedAt);
  while (await findRow(db, id)) id = newJobId(queuedAt);
  await db.insertInto('jobs').values({ id, type: job.type, item, trigger: job.trigger, status: 'queued', queued_at: queuedAt, slot, owner }).execute();
  return loadJob(db, id);
}

async function activeRows(db: Db, item: string, types?: readonly JobType[]): Promise<Selectable<JobsTable>[]> {
  let query = db.selectFrom('jobs').selectAll().where('item', '=', item).where('status', 'in', ACTIVE);
  if (types) query = query.where('type', 'in', [...types]);
  return query.orderBy('queued_at', 'desc').orderBy('seq', 'desc').execute();
}

/**
 * The newest queued or in-progress job of `item` whose type is one of `types`, inside the caller's
 * transaction (JobCatalog.create and the schedule's claim check exclusiveWith with it), or undefined.
 */
export async function firstActiveJob(db: Db, item: string, types: readonly JobType[]): Promise<Selectable<JobsTable> | undefined> {
  return (await activeRows(db, item, types))[0];
}

async function findRow(db: Db, id: string): Promise<Selectable<JobsTable> | undefined> {
  return db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

async function getRow(db: Db, id: string): Promise<Selectable<JobsTable>> {
  const row = await findRow(db, id);
  if (!row) throw new BovedaError('JOB_NOT_FOUND', `no job with id ${JSON.stringify(id)} (see "boveda jobs")`);
  return row;
}

async function loadJob(db: Db, id: string): Promise<StoredJob> {
  return toRecord(await getRow(db, id));
}

function toRecord(row: Selectable<JobsTable>): StoredJob {
  const durationSeconds = row.started_at !== null && row.ended_at !== null ? (Date.parse(row.ended_at) - Date.parse(row.started_at)) / 1000 : null;
  return {
    id: row.id,
    type: row.type as JobType,
    item: row.item,
    trigger: row.trigger,
    status: row.status,
    queuedAt: row.queued_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    durationSeconds,
    progress: { bytesDone: row.bytes_done, bytesTotal: row.bytes_total, percent: row.percent, bytesPerSecond: row.bytes_per_second },
    warnings: fromJson<string[]>(row.warnings),
    error: row.error_code !== null ? { code: row.error_code, message: row.error_message ?? '' } : null,
    result: row.result === null ? null : fromJson<Record<string, unknown>>(row.result),
    cancelRequested: row.cancel_requested === 1,
    slot: row.slot,
    owner: row.owner,
    heartbeatAt: row.heartbeat_at,
  };
}
