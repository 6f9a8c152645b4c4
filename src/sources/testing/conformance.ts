import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBovedaError } from '../../core/errors.js';
import type { ErrorCode } from '../../core/error-codes.js';
import { SeededRandom } from '../../util/seeded-random.js';
import type { DiskSource, OpenDiskOptions } from '../disk-source.js';

/** One disk made for one test case, and the hands to change it underneath an open source. */
export interface DiskUnderTest {
  /** Opens the disk; may be called several times (each call is a separate source). */
  open(options?: OpenDiskOptions): Promise<DiskSource>;
  /** Grows (with zeros) or shrinks the underlying disk, as a VM resize would, while sources are open. */
  resize(sizeBytes: number): Promise<void>;
  /** Overwrites bytes of the underlying disk in place, as the running VM would. */
  write(offset: number, bytes: Uint8Array): Promise<void>;
  /**
   * Everything that exists wherever the implementation might leave artefacts (for an image file,
   * the names in its directory), in any order. Compared before open and after close.
   */
  artefacts(): Promise<string[]>;
  /** Removes the disk and everything made for it. */
  cleanup(): Promise<void>;
}

/** Creates a disk holding exactly `bytes`. */
export type MakeDisk = (bytes: Uint8Array) => Promise<DiskUnderTest>;

export interface DiskConformanceOptions {
  /** The snapshot mode the implementation reports for these disks (checked when given). */
  expectSnapshot?: 'reflink' | 'none';
}

const block = 64 * 1024;
/** Three whole blocks and a partial one: reads of the last block are short. */
const standardSize = 3 * block + 1000;

/**
 * Registers node:test cases that check every rule of the DiskSource contract (see disk-source.ts)
 * against disks from `makeDisk`, a fresh one per case.
 */
export function runDiskSourceConformance(name: string, makeDisk: MakeDisk, options: DiskConformanceOptions = {}): void {
  const withDisk = async (bytes: Uint8Array, test: (disk: DiskUnderTest) => Promise<void>): Promise<void> => {
    const disk = await makeDisk(bytes);
    try {
      await test(disk);
    } finally {
      await disk.cleanup();
    }
  };
  /** Opens, runs the test, always closes; checks that close put the artefacts back as they were. */
  const withSource = async (
    bytes: Uint8Array,
    test: (source: DiskSource, disk: DiskUnderTest) => Promise<void>,
    openOptions?: OpenDiskOptions,
  ): Promise<void> =>
    withDisk(bytes, async (disk) => {
      const before = sorted(await disk.artefacts());
      const source = await disk.open(openOptions);
      try {
        await test(source, disk);
      } finally {
        await source.close();
      }
      assert.deepEqual(sorted(await disk.artefacts()), before, 'close() leaves no artefacts behind');
    });
  const random = (seed: number, length: number): Uint8Array => new SeededRandom(seed).bytes(length);
  const readRange = async (source: DiskSource, offset: number, length: number): Promise<Uint8Array> => {
    const target = new Uint8Array(length);
    await source.read(offset, target);
    return target;
  };

  describe(`DiskSource conformance: ${name}`, () => {
    it('describes itself: path, size at open, snapshot mode and a note exactly when there is no snapshot', () =>
      withSource(random(1, standardSize), async (source) => {
        assert.equal(typeof source.path, 'string');
        assert.ok(source.path.length > 0);
        assert.equal(source.sizeBytes, standardSize);
        assert.ok(source.snapshot === 'reflink' || source.snapshot === 'none');
        if (options.expectSnapshot !== undefined) assert.equal(source.snapshot, options.expectSnapshot);
        if (source.snapshot === 'reflink') assert.equal(source.snapshotNote, null);
        else assert.ok(typeof source.snapshotNote === 'string' && source.snapshotNote.length > 0, 'a note says why');
      }));

    it('reads the whole disk in one call', () => {
      const bytes = random(2, 2 * 1024 * 1024 + 4097);
      return withSource(bytes, async (source) => {
        assertBytes(await readRange(source, 0, bytes.length), bytes);
      });
    });

    it('reads every block, the last one partial', () => {
      const bytes = random(3, standardSize);
      return withSource(bytes, async (source) => {
        for (let offset = 0; offset < bytes.length; offset += block) {
          const length = Math.min(block, bytes.length - offset);
          assertBytes(await readRange(source, offset, length), bytes.subarray(offset, offset + length), `block at ${offset}`);
        }
        assert.equal(bytes.length - 3 * block, 1000);
      });
    });

    it('reads partial and unaligned ranges, including empty ones and the very last byte', () => {
      const bytes = random(4, standardSize);
      return withSource(bytes, async (source) => {
        for (const [offset, length] of [
          [0, 1],
          [1, 1],
          [1, 4095],
          [511, 513],
          [block - 1, 2],
          [block + 7, 2 * block - 7 + 999],
          [12_345, 54_321],
          [standardSize - 1, 1],
          [standardSize - 1001, 1001],
          [0, 0],
          [777, 0],
          [standardSize, 0],
        ] as const) {
          assertBytes(await readRange(source, offset, length), bytes.subarray(offset, offset + length), `range ${offset}+${length}`);
        }
      });
    });

    it('fills a view into a larger buffer and nothing around it', () => {
      const bytes = random(5, standardSize);
      return withSource(bytes, async (source) => {
        const backing = new Uint8Array(5000).fill(0xaa);
        const view = backing.subarray(17, 17 + 4000);
        await source.read(100_000, view);
        assertBytes(view, bytes.subarray(100_000, 104_000));
        assert.ok(backing.subarray(0, 17).every((byte) => byte === 0xaa), 'bytes before the view are untouched');
        assert.ok(backing.subarray(4017).every((byte) => byte === 0xaa), 'bytes after the view are untouched');
      });
    });

    it('serves 100 concurrent reads, overlapping ones included', () => {
      const bytes = random(6, standardSize);
      return withSource(bytes, async (source) => {
        const rng = new SeededRandom(60);
        const ranges = Array.from({ length: 100 }, (_, index) => {
          if (index % 10 === 0) return [block, block] as const; // the same range many times at once
          const offset = rng.int(standardSize);
          return [offset, rng.int(Math.min(3 * block, standardSize - offset) + 1)] as const;
        });
        const results = await Promise.all(ranges.map(([offset, length]) => readRange(source, offset, length)));
        for (const [index, [offset, length]] of ranges.entries()) {
          assertBytes(results[index] as Uint8Array, bytes.subarray(offset, offset + length), `range ${offset}+${length}`);
        }
      });
    });

    it('rejects reads outside the disk or with malformed offsets with INVALID_ARGUMENT', () =>
      withSource(random(7, standardSize), async (source) => {
        for (const [offset, length] of [
          [standardSize - 10, 11],
          [standardSize, 1],
          [standardSize + 1, 0],
          [0, standardSize + 1],
          [10 * standardSize, 1],
          [-1, 1],
          [0.5, 1],
          [Number.NaN, 1],
          [Number.POSITIVE_INFINITY, 0],
        ] as const) {
          await rejectsWith(source.read(offset, new Uint8Array(length)), 'INVALID_ARGUMENT', `read ${offset}+${length}`);
        }
        // The source stays usable.
        assert.equal((await readRange(source, 0, 10)).length, 10);
      }));

    it('opens an empty disk: size 0, only empty reads', () =>
      withSource(new Uint8Array(0), async (source) => {
        assert.equal(source.sizeBytes, 0);
        await source.read(0, new Uint8Array(0));
        await rejectsWith(source.read(0, new Uint8Array(1)), 'INVALID_ARGUMENT');
        await source.checkUnchangedSize();
      }));

    it('checkUnchangedSize resolves while the size is unchanged, after in-place writes too', () =>
      withSource(random(8, standardSize), async (source, disk) => {
        await source.checkUnchangedSize();
        await disk.write(100, random(80, 5000));
        await source.checkUnchangedSize();
      }));

    it('checkUnchangedSize rejects with DISK_SIZE_CHANGED when the disk grew; reads keep the size at open', () => {
      const bytes = random(9, standardSize);
      return withSource(bytes, async (source, disk) => {
        await disk.resize(standardSize + block);
        const error = await rejectsWith(source.checkUnchangedSize(), 'DISK_SIZE_CHANGED');
        assertNames(error, source.path);
        assert.equal(source.sizeBytes, standardSize);
        await rejectsWith(source.read(standardSize, new Uint8Array(1)), 'INVALID_ARGUMENT');
        assertBytes(await readRange(source, standardSize - 1000, 1000), bytes.subarray(standardSize - 1000));
      });
    });

    it('checkUnchangedSize rejects with DISK_SIZE_CHANGED when the disk shrank', () =>
      withSource(random(10, standardSize), async (source, disk) => {
        await disk.resize(standardSize - 1);
        assertNames(await rejectsWith(source.checkUnchangedSize(), 'DISK_SIZE_CHANGED'), source.path);
        await disk.resize(standardSize);
        await source.checkUnchangedSize();
      }));

    it('never returns partial data after the disk shrank: the snapshot is read, or the read fails with DISK_SIZE_CHANGED', () => {
      const bytes = random(11, standardSize);
      return withSource(bytes, async (source, disk) => {
        const newSize = 2 * block + 100;
        await disk.resize(newSize);
        const ranges = [
          [newSize - 50, 100],
          [newSize, 10],
          [2 * block, block + 1000],
        ] as const;
        for (const [offset, length] of ranges) {
          if (source.snapshot === 'reflink') {
            assertBytes(await readRange(source, offset, length), bytes.subarray(offset, offset + length), `range ${offset}+${length}`);
          } else {
            const error = await rejectsWith(source.read(offset, new Uint8Array(length)), 'DISK_SIZE_CHANGED', `read ${offset}+${length}`);
            assertNames(error, source.path);
            assert.ok(error.message.includes(String(standardSize)), `message ${JSON.stringify(error.message)} names the size at open`);
          }
        }
        // Ranges below the new end still read.
        assertBytes(await readRange(source, 0, newSize), bytes.subarray(0, newSize));
      });
    });

    it('reads the point in time with a snapshot, the current bytes without one', () => {
      const bytes = random(12, standardSize);
      return withSource(bytes, async (source, disk) => {
        const written = random(120, 3000);
        await disk.write(block - 1000, written);
        const read = await readRange(source, block - 2000, 5000);
        const expected = bytes.slice(block - 2000, block + 3000);
        if (source.snapshot === 'none') expected.set(written, 1000);
        assertBytes(read, expected, `snapshot ${source.snapshot}`);
      });
    });

    it('close() is idempotent, also when called concurrently, and removes what open() created', () =>
      withDisk(random(13, standardSize), async (disk) => {
        const before = sorted(await disk.artefacts());
        const source = await disk.open();
        await readRange(source, 0, 100);
        await Promise.all([source.close(), source.close()]);
        await source.close();
        assert.deepEqual(sorted(await disk.artefacts()), before);
      }));

    it('rejects reads after close()', () =>
      withDisk(random(14, standardSize), async (disk) => {
        const source = await disk.open();
        await source.close();
        await assert.rejects(source.read(0, new Uint8Array(10)), (error: unknown) => isBovedaError(error));
      }));

    it('close() lets reads in flight finish (or fail with a BovedaError) and cleans up', () => {
      const bytes = random(15, standardSize);
      return withDisk(bytes, async (disk) => {
        const before = sorted(await disk.artefacts());
        const source = await disk.open();
        const reads = Array.from({ length: 20 }, (_, index) => readRange(source, index * 1000, block));
        const closing = source.close();
        const settled = await Promise.allSettled(reads);
        await closing;
        for (const [index, result] of settled.entries()) {
          if (result.status === 'fulfilled') assertBytes(result.value, bytes.subarray(index * 1000, index * 1000 + block));
          else assert.ok(isBovedaError(result.reason), `read ${index} failed with ${String(result.reason)}`);
        }
        assert.deepEqual(sorted(await disk.artefacts()), before);
      });
    });

    it('keeps sources opened at the same time apart, and both close cleanly', () => {
      const bytes = random(16, standardSize);
      return withDisk(bytes, async (disk) => {
        const before = sorted(await disk.artefacts());
        const [first, second] = await Promise.all([disk.open(), disk.open()]);
        try {
          assertBytes(await readRange(first, 0, standardSize), bytes);
          await first.close();
          assertBytes(await readRange(second, 0, standardSize), bytes);
        } finally {
          await first.close();
          await second.close();
        }
        assert.deepEqual(sorted(await disk.artefacts()), before);
      });
    });

    it('honours an aborted signal in open() with ABORTED and leaves nothing behind', () =>
      withDisk(random(17, standardSize), async (disk) => {
        const before = sorted(await disk.artefacts());
        const controller = new AbortController();
        controller.abort(new Error('user pressed Ctrl-C'));
        await rejectsWith(disk.open({ signal: controller.signal }), 'ABORTED', 'open');
        assert.deepEqual(sorted(await disk.artefacts()), before);
      }));

    it('honours an aborted signal in read() with ABORTED; the source stays usable and closes cleanly', () => {
      const bytes = random(18, standardSize);
      return withSource(bytes, async (source) => {
        const controller = new AbortController();
        controller.abort(new Error('job cancelled'));
        await rejectsWith(source.read(0, new Uint8Array(block), controller.signal), 'ABORTED', 'read');
        assertBytes(await readRange(source, 0, block), bytes.subarray(0, block));
      });
    });

    it('reads with a signal that never fires', () => {
      const bytes = random(19, standardSize);
      return withSource(bytes, async (source) => {
        const target = new Uint8Array(standardSize);
        await source.read(0, target, new AbortController().signal);
        assertBytes(target, bytes);
      });
    });
  });
}

function sorted(names: string[]): string[] {
  return [...names].sort();
}

function assertBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  assert.equal(actual.length, expected.length, `${message ?? 'bytes'}: length`);
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(
    Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
  );
  if (!same) {
    let first = 0;
    while (actual[first] === expected[first]) first++;
    assert.fail(`${message ?? 'bytes'}: content differs, first at index ${first}`);
  }
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, what = 'call'): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(
      isBovedaError(error, code),
      `${what}: expected ${code}, got ${error instanceof Error ? `${error.name} ${String((error as { code?: unknown }).code ?? '')}: ${error.message}` : String(error)}`,
    );
    return error;
  }
  assert.fail(`${what}: expected ${code}, but it succeeded`);
}

function assertNames(error: Error, path: string): void {
  assert.ok(error.message.includes(path), `message ${JSON.stringify(error.message)} names the disk ${path}`);
}
