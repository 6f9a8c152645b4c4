import { performance } from 'node:perf_hooks';
import { BovedaError, isBovedaError } from '../core/index.js';
import type { ManifestDisk, PointManifest, PointSecretInput, VaultWriter } from '../repository/index.js';
import type { Consistency, PointMeta } from './point-meta.js';

/** What both backup paths (image files and block devices, running QEMU VMs) know when they commit. */
export interface BackupCommit {
  subject: string;
  parent: PointManifest | undefined;
  disks: ManifestDisk[];
  /** The point in time of the disks' content. */
  pointTime: Date;
  /** performance.now() when the backup started. */
  started: number;
  consistency: Consistency;
  consistencyNote: string | null;
  warnings: string[];
  options: { expiresAt?: Date | null; trigger?: PointMeta['trigger']; secrets?: readonly PointSecretInput[]; signal?: AbortSignal };
}

/** Commits a backup's point with its PointMeta; returns both. */
export async function commitBackupPoint(writer: VaultWriter, input: BackupCommit): Promise<{ point: PointManifest; meta: PointMeta }> {
  const { options } = input;
  const meta: PointMeta = {
    type: input.parent ? 'incremental' : 'full',
    consistency: input.consistency,
    consistencyNote: input.consistencyNote,
    expiresAt: options.expiresAt ? options.expiresAt.toISOString() : null,
    trigger: options.trigger ?? 'on-demand',
    warnings: input.warnings,
    durationSeconds: Math.round((performance.now() - input.started) / 10) / 100,
  };
  const point = await writer.commitPoint({
    subject: input.subject, parentId: input.parent?.pointId ?? null, disks: input.disks, meta: { ...meta }, createdAt: input.pointTime, secrets: options.secrets,
  }, options.signal);
  return { point, meta };
}

/**
 * The error to throw after a failed backup step's cleanup: a BovedaError with the cleanup's
 * problems appended to its message and in details.cleanupProblems; any other error (or no
 * problems) as it is.
 */
export function withCleanupProblems(error: unknown, problems: readonly string[]): unknown {
  if (problems.length > 0 && isBovedaError(error)) {
    return new BovedaError(error.code, `${error.message} (and cleaning up: ${problems.join('; ')})`, { cause: error, details: { ...error.details, cleanupProblems: problems } });
  }
  return error;
}
