import type { CatalogAccess } from './catalog-access.js';
import { checkName, clampLimit, fromJson, isoTime, toJson, type TimeInput } from './catalog-values.js';

export type AuditOutcome = 'succeeded' | 'failed' | 'refused';

/** One audited action: who did what to which object, from where, when, and how it ended. */
export interface AuditEntryInput {
  /** The user name, or "local:<os user>" for commands run on the server's own shell. */
  userName: string;
  /** IP address of an API request, or "cli". */
  source: string;
  /** A stable dotted verb, e.g. "protection.delete-data", "secrets.read", "user.add". */
  action: string;
  /** The object acted on ("vm:web", "user:alice", "policy:gold"); null for global actions. */
  target?: string | null;
  outcome: AuditOutcome;
  /** Anything else worth keeping (never secrets or passwords). */
  details?: Record<string, unknown> | null;
  at?: TimeInput;
}

export interface AuditEntry {
  id: number;
  time: string;
  userName: string;
  source: string;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  details: Record<string, unknown> | null;
}

export interface AuditFilter {
  /** Newest first; at most this many (default 100, at most 10,000). */
  limit?: number;
  /** Only entries with an id below this one (paging backwards). */
  beforeId?: number;
  action?: string;
  target?: string;
}

/**
 * The audit log: append-only. Boveda never updates or deletes an entry; reading is the admin's.
 */
export class AuditCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  async record(entry: AuditEntryInput): Promise<AuditEntry> {
    const row = {
      time: isoTime(entry.at, this.#access.clock, 'audit time'),
      user_name: checkName(entry.userName, 'audit user name'),
      source: checkName(entry.source, 'audit source'),
      action: checkName(entry.action, 'audit action'),
      target: entry.target ?? null,
      outcome: entry.outcome,
      details: entry.details ? toJson(entry.details, 'audit details') : null,
    };
    return this.#access.write(`record audit entry ${entry.action}`, async (db) => {
      const { id } = await db.insertInto('audit_log').values(row).returning('id').executeTakeFirstOrThrow();
      return toEntry({ ...row, id });
    });
  }

  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const limit = clampLimit(filter.limit, 100, 10_000);
    return this.#access.read('list audit entries', async (db) => {
      let query = db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit);
      if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
      if (filter.action !== undefined) query = query.where('action', '=', filter.action);
      if (filter.target !== undefined) query = query.where('target', '=', filter.target);
      return (await query.execute()).map(toEntry);
    });
  }
}

function toEntry(row: { id: number; time: string; user_name: string; source: string; action: string; target: string | null; outcome: AuditOutcome; details: string | null }): AuditEntry {
  return {
    id: row.id, time: row.time, userName: row.user_name, source: row.source, action: row.action,
    target: row.target, outcome: row.outcome, details: row.details === null ? null : fromJson<Record<string, unknown>>(row.details),
  };
}
