/**
 * The shapes the UI reads from the API (docs/api.md). They mirror the server's types (core/job.ts,
 * core/policy.ts, catalog records) but are declared here: the browser code imports nothing from
 * src/. Fields the UI can live without are optional, so a page degrades instead of breaking.
 */
export type Permission = 'view' | 'operate' | 'configure' | 'destroy' | 'administer' | 'restore-keys';
export type Role = 'reader' | 'operator' | 'contributor' | 'admin';

export interface Me {
  name: string;
  role: Role;
  keyRestore: boolean;
  permissions: Permission[];
}

export type JobStatus = 'queued' | 'in-progress' | 'completed' | 'completed-with-warnings' | 'failed' | 'cancelled';

export interface Job {
  id: string;
  type: string;
  item: string | null;
  trigger: string;
  status: JobStatus;
  queuedAt: string;
  startedAt: string | null;
  endedAt: string | null;
  durationSeconds: number | null;
  progress: { bytesDone: number; bytesTotal: number | null; percent: number | null; bytesPerSecond: number | null };
  warnings: string[];
  error: { code: string; message: string } | null;
  result: Record<string, unknown> | null;
  cancelRequested: boolean;
}

/** A disk as GET /api/vms/:name describes it now (app/vm-service DiskStatus). */
export interface Disk {
  name: string;
  path: string;
  role: 'os' | 'data' | 'temp';
  backedUp?: boolean;
  exists?: boolean;
  sizeBytes?: number | null;
  problem?: string | null;
}

export interface Protection {
  state: 'protected' | 'stopped-retain' | 'soft-deleted';
  policyName: string | null;
  purgeAfter?: string | null;
  firstBackupAt?: string | null;
}

/** A recovery point (engine/list-points PointSummary) with retention's decision. */
export interface Point {
  id: string;
  createdAt: string;
  type: 'full' | 'incremental';
  trigger: 'scheduled' | 'on-demand';
  consistency: string;
  consistencyNote?: string | null;
  expiresAt: string | null;
  introducedBytes?: number;
  uniqueBytes?: number;
  introducedStoredBytes?: number;
  uniqueStoredBytes?: number;
  disks?: { name: string; role: string; sizeBytes: number; bytesRead: number; newBytes: number; storedBytes: number }[];
  retention?: { keep: boolean; reasons: string[]; keepUntil: string | null };
}

/** A VM as GET /api/vms lists it (the definition plus protection, points and the last backup job). */
export interface Vm {
  name: string;
  disks: Disk[];
  preScript?: string | null;
  postScript?: string | null;
  protection: Protection | null;
  points?: number;
  latestPoint?: { id: string; createdAt: string; protectedBytes: number } | null;
  lastBackupJob?: Job | null;
}

/** GET /api/vms/:name. */
export interface VmDetail {
  vm: Vm;
  disks: Disk[];
  qemu: { reachable: boolean; status: string | null; problem: string | null } | null;
}

export type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';
export type MonthAnchor = { kind: 'day'; day: number | 'last' } | { kind: 'weekday'; which: 'first' | 'last'; weekday: Weekday };

export type Schedule =
  | { kind: 'daily'; time: string; timeZone: string }
  | { kind: 'weekly'; days: Weekday[]; time: string; timeZone: string }
  | { kind: 'hourly'; everyHours: 4 | 6 | 8 | 12; windowStart: string; windowHours: number; timeZone: string };

export interface Policy {
  name: string;
  description: string | null;
  schedule: Schedule;
  retention: {
    dailyDays: number;
    weekly: { weeks: number; weekday: Weekday } | null;
    monthly: { months: number; on: MonthAnchor } | null;
    yearly: { years: number; month: number; on: MonthAnchor } | null;
  };
  instantRestoreDays: number;
}

/** A policy as GET /api/policies lists it: with core's wording of its schedule and retention. */
export interface ListedPolicy extends Policy {
  scheduleText: string;
  retentionText: string;
}

export interface CostEstimate { instanceFee: number; storageFee: number; total: number }

export interface VmUsage {
  vmName: string;
  state: string | null;
  policyName: string | null;
  points: number;
  latestPointAt: string | null;
  protectedBytes: number;
  storedBytes: number;
  billing: string;
  cost: CostEstimate | null;
}

export interface Usage {
  vms: VmUsage[];
  totals: { vms: number; billedVms: number; protectedBytes: number; storedBytes: number; vaultBytes: number; cost: CostEstimate | null };
  priceTable: { currency: string } | null;
}

/** A row of the dashboard (GET /api/overview). */
export interface OverviewVm {
  name: string;
  state: Protection['state'] | null;
  policyName: string | null;
  disks: number;
  lastBackup: { jobId: string; status: JobStatus; endedAt: string | null; error: { code: string; message: string } | null } | null;
  latestPointAt: string | null;
  points: number;
  protectedBytes: number;
}

export interface Overview {
  counts: { vms: number; protected: number; stopped: number; softDeleted: number; unprotected: number; points: number; runningJobs: number; recentFailures: number };
  /** Failures first. */
  vms: OverviewVm[];
  runningJobs: Job[];
  recentFailures: Job[];
  storage: { protectedBytes: number; points: number; storedBytes: number | null; sampledAt: string | null };
}

export interface UsageSample {
  time: string;
  vmName?: string | null;
  protectedBytes: number;
  storedBytes: number;
  points: number;
}

export interface Secret { name: string; kind: string; sizeBytes?: number; updatedAt?: string }

export interface User { name: string; role: Role; keyRestore: boolean; disabled: boolean; createdAt: string }

/** An API token as GET /api/tokens lists it (app/user-service TokenRecord; never the secret). */
export interface ApiToken { id: string; userName: string; kind: 'session' | 'api'; name: string | null; createdAt: string; expiresAt: string | null; lastUsedAt: string | null; createdFrom: string | null }

/** A line of GET /api/audit (catalog/audit-catalog AuditEntry). */
export interface AuditEntry {
  id: number;
  time: string;
  userName: string;
  source: string;
  action: string;
  target: string | null;
  outcome: 'succeeded' | 'failed' | 'refused';
  details: Record<string, unknown> | null;
}

/** A secret's value as POST /api/vms/:name/points/:point/secrets/restore answers it. */
export interface RestoredSecret extends Secret { valueBase64: string }
