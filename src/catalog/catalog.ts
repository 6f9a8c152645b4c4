import { resolve } from 'node:path';
import { systemClock, type Clock } from '../util/index.js';
import type { KyselyCatalogAccess } from './kysely-access.js';
import { AuditCatalog } from './audit-catalog.js';
import { UsageCatalog } from './usage-catalog.js';
import { JobCatalog } from './job-catalog.js';
import type { Migration } from './migrations/migration.js';
import { PolicyCatalog } from './policy-catalog.js';
import { ProtectedItemCatalog } from './protected-item-catalog.js';
import { RecoveryPointCatalog } from './recovery-point-catalog.js';
import { ScheduleCatalog } from './schedule-catalog.js';
import { SettingsCatalog } from './settings-catalog.js';
import { TokenCatalog } from './token-catalog.js';
import { UserCatalog } from './user-catalog.js';
import { VmCatalog } from './vm-catalog.js';
import { VmSecretCatalog } from './vm-secret-catalog.js';

export interface CatalogOptions {
  /** Timestamps (created_at, updated_at, applied_at, and every time a caller does not pass) come from here. Default: the system clock. */
  clock?: Clock;
  /** How long an operation waits for another process's write lock before CATALOG_ERROR. Default 5000. */
  busyTimeoutMs?: number;
  /** The schema steps; default the built-in list. Tests pass fewer or extra ones to exercise upgrades. */
  migrations?: readonly Migration[];
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * The catalog: Boveda's own database of what to protect, policies, protected items, the mirror of
 * the vault's recovery points, jobs, scheduler claims and settings — one SQLite file shared by every
 * Boveda process of a data dir.
 *
 * One public class composing role-named parts (`vms`, `policies`, `items`, `points`, `jobs`,
 * `schedule`, `settings`), each
 * reaching the database through the same CatalogAccess, so each part is one file and one concept.
 * open() migrates the file to the latest schema (see migrator.ts) and sets WAL mode (readers never
 * block the writer, so several processes can share the file), a busy timeout (a writer waits for
 * another instead of failing at once), foreign keys and synchronous=FULL (a committed change
 * survives power loss). Use one Catalog per process and file: the driver is synchronous, so a
 * second connection in the same process waiting for the first would block the event loop.
 */
export class Catalog {
  /** Absolute path of the database file, or ":memory:". */
  readonly file: string;
  readonly schemaVersion: number;
  readonly vms: VmCatalog;
  readonly policies: PolicyCatalog;
  readonly items: ProtectedItemCatalog;
  readonly points: RecoveryPointCatalog;
  readonly jobs: JobCatalog;
  readonly schedule: ScheduleCatalog;
  readonly settings: SettingsCatalog;
  readonly audit: AuditCatalog;
  readonly secrets: VmSecretCatalog;
  readonly users: UserCatalog;
  readonly tokens: TokenCatalog;
  readonly usage: UsageCatalog;
  readonly #access: KyselyCatalogAccess;

  private constructor(file: string, schemaVersion: number, access: KyselyCatalogAccess) {
    this.file = file;
    this.schemaVersion = schemaVersion;
    this.#access = access;
    this.vms = new VmCatalog(access);
    this.policies = new PolicyCatalog(access);
    this.items = new ProtectedItemCatalog(access);
    this.points = new RecoveryPointCatalog(access);
    this.jobs = new JobCatalog(access);
    this.schedule = new ScheduleCatalog(access);
    this.settings = new SettingsCatalog(access);
    this.audit = new AuditCatalog(access);
    this.secrets = new VmSecretCatalog(access);
    this.users = new UserCatalog(access);
    this.tokens = new TokenCatalog(access);
    this.usage = new UsageCatalog(access);
  }

  /** Opens (creating and migrating if needed) the catalog file; its directory must exist. */
  static async open(file: string, options: CatalogOptions = {}): Promise<Catalog> {
    const path = resolve(file);
    return Catalog.#open(path, `catalog ${path}`, options);
  }

  /** A private, empty catalog that lives as long as this object: for unit tests. */
  static async openInMemory(options: CatalogOptions = {}): Promise<Catalog> {
    return Catalog.#open(':memory:', 'in-memory catalog', options);
  }

  static async #open(file: string, label: string, options: CatalogOptions): Promise<Catalog> {
    const { openCatalogDatabase } = await import('./open-database.js');
    const { access, schemaVersion } = await openCatalogDatabase(file, label, {
      clock: options.clock ?? systemClock,
      busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      migrations: options.migrations,
    });
    return new Catalog(file, schemaVersion, access);
  }

  /** Closes the database (idempotent); operations afterwards fail with CATALOG_ERROR. */
  async close(): Promise<void> {
    await this.#access.close();
  }
}
