import { BlobKind, type PointManifest } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import type { BlockIndex } from './block-index.js';
import type { BlockMapReader } from './block-map.js';

/** What one subject (a VM) occupies in the vault: the distinct blobs all its points reference. */
export interface SubjectUsage {
  subject: string;
  points: number;
  /** Distinct data blocks referenced by the subject's points, plaintext and stored. */
  blocks: number;
  bytes: number;
  /** Stored bytes of the blocks and map pages: the "sum of the blocks of all points" billed for it. */
  storedBytes: number;
  /** Of those, stored bytes no other subject references (what deleting all its points would free). */
  exclusiveStoredBytes: number;
}

/**
 * Per-subject usage over the whole vault, each blob counted once per subject; a blob shared by two
 * VMs (deduplicated) counts fully for each — each VM is charged for what it needs — and is in
 * neither's exclusive bytes. One pass over the maps; side tables are typed arrays over the index.
 */
export async function computeSubjectUsage(
  points: readonly PointManifest[],
  index: BlockIndex,
  mapReader: (point: PointManifest, disk: number) => BlockMapReader,
  signal?: AbortSignal,
): Promise<SubjectUsage[]> {
  const subjects = [...new Set(points.map((point) => point.subject))].sort();
  const subjectNumber = new Map(subjects.map((subject, number) => [subject, number]));
  const lastSubject = new Int32Array(index.size).fill(-1);
  // -1: nobody yet; ≥ 0: the one subject referencing it; -2: several subjects.
  const owner = new Int32Array(index.size).fill(-1);
  const usage: SubjectUsage[] = subjects.map((subject) => ({ subject, points: 0, blocks: 0, bytes: 0, storedBytes: 0, exclusiveStoredBytes: 0 }));
  const ordered = [...points].sort((a, b) => subjectNumber.get(a.subject)! - subjectNumber.get(b.subject)!);
  for (const point of ordered) {
    throwIfAborted(signal, 'computing per-VM usage');
    const s = subjectNumber.get(point.subject)!;
    const entry = usage[s]!;
    entry.points++;
    const count = (address: Uint8Array) => {
      const number = index.entryNumber(address);
      if (number < 0 || lastSubject[number] === s) return;
      lastSubject[number] = s;
      owner[number] = owner[number] === -1 ? s : -2;
      const location = index.locationOf(number);
      entry.storedBytes += location.length;
      if (location.kind === BlobKind.block) {
        entry.blocks++;
        entry.bytes += location.rawLength;
      }
    };
    for (let d = 0; d < point.disks.length; d++) {
      await mapReader(point, d).walk((address) => {
        count(address);
        return true;
      }, count);
    }
  }
  for (let number = 0; number < index.size; number++) {
    const s = owner[number]!;
    if (s >= 0) usage[s]!.exclusiveStoredBytes += index.locationOf(number).length;
  }
  return usage;
}
