import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BovedaError, describeError, isBovedaError } from '../../core/errors.js';
import { throwIfAborted } from '../../util/abort.js';
import type { DiskSource, OpenDiskOptions } from '../disk-source.js';
import { blockDeviceSize } from './block-device-size.js';
import { errnoOf, mapDiskError } from './map-disk-error.js';
import {
  blockDeviceNote,
  reflinkClone,
  removeSnapshotClone,
  snapshotsOffNote,
  trySnapshotClone,
  type CloneFile,
} from './snapshot-clone.js';

/** Seams for tests; production code passes none. */
export interface RawDiskHooks {
  /**
   * Replaces the reflink clone. Tests pass a plain copy to exercise the snapshot path on file
   * systems without reflink (the source then still reports snapshot 'reflink').
   */
  cloneFile?: CloneFile;
  /** Replaces /sys/dev/block, where block-device sizes are looked up. */
  sysBlockDir?: string;
}

/** The most one pread asks for: keeps each call below Node's 2 GiB limit and lets aborts land between calls. */
export const maxReadChunkBytes = 8 * 1024 * 1024;

type DiskKind = 'file' | 'block';

/**
 * Opens a raw disk image (regular file) or a block device for reading; see DiskSource for the
 * rules. A regular file is first cloned with a reflink into a hidden sibling
 * (`.<image>.boveda-snap-<random>`) so the VM can keep writing while the clone is read; where the
 * file system cannot clone (or options.snapshot is false) the image is read in place and
 * snapshotNote says why. Block devices are always read in place; their size comes from
 * /sys/dev/block/<major>:<minor>/size (Linux only).
 */
export async function openRawDisk(path: string, options: OpenDiskOptions = {}, hooks: RawDiskHooks = {}): Promise<DiskSource> {
  const { signal } = options;
  const absolute = resolve(path);
  const what = `opening disk ${path}`;
  throwIfAborted(signal, what);
  // Screen the type before opening: opening a FIFO, socket or character device can block or have
  // side effects. O_NONBLOCK covers the race of the path changing between stat and open.
  kindOf(await stat(absolute, { bigint: true }).catch((error: unknown) => Promise.reject(mapDiskError(error, path, 'open'))), path);
  let original: FileHandle;
  try {
    original = await open(absolute, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw mapDiskError(error, path, 'open');
  }
  try {
    const stats = await original.stat({ bigint: true });
    const kind = kindOf(stats, path);
    throwIfAborted(signal, what);
    const inPlace = (sizeBytes: number, note: string): RawDiskSource =>
      new RawDiskSource({ path, absolute, kind, handle: original, sizeBytes, snapshot: 'none', snapshotNote: note, clonePath: null, hooks });
    if (kind === 'block') return inPlace(await blockDeviceSize(path, stats.rdev, hooks.sysBlockDir), blockDeviceNote(path));
    if (options.snapshot === false) return inPlace(Number(stats.size), snapshotsOffNote());

    const attempt = await trySnapshotClone(await realpath(absolute), hooks.cloneFile ?? reflinkClone);
    if (attempt.clonePath === null) {
      throwIfAborted(signal, what);
      return inPlace(Number(stats.size), attempt.note);
    }
    const { clonePath } = attempt;
    let clone: FileHandle | undefined;
    let sizeBytes: number;
    try {
      throwIfAborted(signal, what);
      clone = await open(clonePath, constants.O_RDONLY);
      const cloneStats = await clone.stat({ bigint: true });
      sizeBytes = Number(cloneStats.size);
      throwIfAborted(signal, what);
    } catch (error) {
      await clone?.close().catch(() => undefined);
      await removeSnapshotClone(clonePath, path).catch(() => undefined);
      if (error instanceof BovedaError) throw error;
      throw new BovedaError('DISK_UNREADABLE', `cannot open the snapshot clone ${clonePath} of disk ${path}: ${describeError(error)}`, {
        cause: error,
        details: { path, clonePath, errno: errnoOf(error) },
      });
    }
    await original.close().catch(() => undefined);
    return new RawDiskSource({ path, absolute, kind, handle: clone, sizeBytes, snapshot: 'reflink', snapshotNote: null, clonePath, hooks });
  } catch (error) {
    await original.close().catch(() => undefined);
    throw mapDiskError(error, path, 'open');
  }
}

/**
 * The current size in bytes of the regular file or block device at `path` (following symbolic
 * links). DISK_NOT_FOUND when it does not exist, DISK_UNREADABLE when it is something else or its
 * size cannot be found.
 */
export async function diskSize(path: string, hooks: Pick<RawDiskHooks, 'sysBlockDir'> = {}): Promise<number> {
  return sizeAt(resolve(path), path, hooks.sysBlockDir);
}

/** diskSize of `absolute`, naming it `shownAs` in errors. */
async function sizeAt(absolute: string, shownAs: string, sysBlockDir: string | undefined): Promise<number> {
  let stats: BigIntStats;
  try {
    stats = await stat(absolute, { bigint: true });
  } catch (error) {
    throw mapDiskError(error, shownAs, 'stat');
  }
  return kindOf(stats, shownAs) === 'block' ? blockDeviceSize(shownAs, stats.rdev, sysBlockDir) : Number(stats.size);
}

function kindOf(stats: BigIntStats, path: string): DiskKind {
  if (stats.isFile()) return 'file';
  if (stats.isBlockDevice()) return 'block';
  const it = stats.isDirectory()
    ? 'a directory'
    : stats.isFIFO()
      ? 'a FIFO'
      : stats.isSocket()
        ? 'a socket'
        : stats.isCharacterDevice()
          ? 'a character device'
          : 'of an unknown type';
  throw new BovedaError('DISK_UNREADABLE', `disk ${path} is not a regular file or block device (it is ${it})`, {
    details: { path },
  });
}

interface RawDiskParts {
  path: string;
  absolute: string;
  kind: DiskKind;
  handle: FileHandle;
  sizeBytes: number;
  snapshot: 'reflink' | 'none';
  snapshotNote: string | null;
  clonePath: string | null;
  hooks: RawDiskHooks;
}

class RawDiskSource implements DiskSource {
  readonly path: string;
  readonly sizeBytes: number;
  readonly snapshot: 'reflink' | 'none';
  readonly snapshotNote: string | null;
  readonly #absolute: string;
  readonly #kind: DiskKind;
  readonly #handle: FileHandle;
  readonly #clonePath: string | null;
  readonly #hooks: RawDiskHooks;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();
  #handleClosing: Promise<void> | undefined;
  #cloneRemoval: Promise<void> | undefined;

  constructor(parts: RawDiskParts) {
    this.path = parts.path;
    this.sizeBytes = parts.sizeBytes;
    this.snapshot = parts.snapshot;
    this.snapshotNote = parts.snapshotNote;
    this.#absolute = parts.absolute;
    this.#kind = parts.kind;
    this.#handle = parts.handle;
    this.#clonePath = parts.clonePath;
    this.#hooks = parts.hooks;
  }

  async read(offset: number, target: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (!(target instanceof Uint8Array)) {
      throw new BovedaError('INVALID_ARGUMENT', `read of disk ${this.path}: the target is not a Uint8Array`);
    }
    const length = target.length;
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.sizeBytes || length > this.sizeBytes - offset) {
      throw new BovedaError(
        'INVALID_ARGUMENT',
        `read of ${length} bytes at offset ${offset} is outside disk ${this.path} (${this.sizeBytes} bytes)`,
        { details: { path: this.path, offset, length, sizeBytes: this.sizeBytes } },
      );
    }
    this.#throwIfClosed();
    const reading = this.#fill(offset, target, signal);
    this.#inFlight.add(reading);
    try {
      await reading;
    } finally {
      this.#inFlight.delete(reading);
    }
  }

  async #fill(offset: number, target: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    let done = 0;
    while (done < target.length) {
      throwIfAborted(signal, `reading disk ${this.path}`);
      const position = offset + done;
      let bytesRead: number;
      try {
        ({ bytesRead } = await this.#handle.read(target, done, Math.min(target.length - done, maxReadChunkBytes), position));
      } catch (error) {
        throw mapDiskError(error, this.path, 'read', `at byte ${position}`);
      }
      if (bytesRead === 0) throw await this.#shrunk(position);
      done += bytesRead;
    }
  }

  async checkUnchangedSize(): Promise<void> {
    // The original path, not the clone: the question is whether the VM's disk was resized.
    let now: number;
    try {
      now = await sizeAt(this.#absolute, this.path, this.#hooks.sysBlockDir);
    } catch (error) {
      if (isBovedaError(error, 'DISK_NOT_FOUND')) {
        throw new BovedaError('DISK_NOT_FOUND', `disk ${this.path} no longer exists`, { cause: error, details: { path: this.path } });
      }
      throw error;
    }
    if (now !== this.sizeBytes) {
      throw new BovedaError(
        'DISK_SIZE_CHANGED',
        `disk ${this.path} changed size during the backup: ${this.sizeBytes} bytes when opened, ${now} bytes now`,
        { details: { path: this.path, sizeAtOpen: this.sizeBytes, sizeNow: now } },
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    // Reads that started before close() run to the end; later ones are refused. A failed close of
    // a read-only descriptor loses nothing, so it does not fail the backup.
    this.#handleClosing ??= Promise.allSettled([...this.#inFlight]).then(() => this.#handle.close().catch(() => undefined));
    await this.#handleClosing;
    if (this.#clonePath !== null) {
      // Kept once it succeeded (idempotent); forgotten when it failed, so a later close retries.
      this.#cloneRemoval ??= removeSnapshotClone(this.#clonePath, this.path).catch((error: unknown) => {
        this.#cloneRemoval = undefined;
        throw error;
      });
      await this.#cloneRemoval;
    }
  }

  #throwIfClosed(): void {
    if (this.#closed) throw new BovedaError('INTERNAL', `read of disk ${this.path} after close()`, { details: { path: this.path } });
  }

  /** The error for an end of file before sizeBytes: the disk (or, in theory, its clone) shrank. */
  async #shrunk(position: number): Promise<BovedaError> {
    let now: number | string;
    try {
      now = this.#kind === 'block' ? await sizeAt(this.#absolute, this.path, this.#hooks.sysBlockDir) : Number((await this.#handle.stat()).size);
    } catch {
      now = `at most ${position}`;
    }
    return new BovedaError(
      'DISK_SIZE_CHANGED',
      `disk ${this.path} shrank while being read: end of data at byte ${position}; it had ${this.sizeBytes} bytes when opened and has ${now} bytes now`,
      { details: { path: this.path, position, sizeAtOpen: this.sizeBytes, sizeNow: now } },
    );
  }
}
