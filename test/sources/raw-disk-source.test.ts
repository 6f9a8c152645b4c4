import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  statfs,
  symlink,
  truncate,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BovedaError, isBovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import type { DiskSource, OpenDiskOptions } from '../../src/sources/disk-source.js';
import { blockDeviceSize, deviceNumbers } from '../../src/sources/raw/block-device-size.js';
import { mapDiskError } from '../../src/sources/raw/map-disk-error.js';
import { diskSize, maxReadChunkBytes, openRawDisk, type RawDiskHooks } from '../../src/sources/raw/raw-disk-source.js';
import { isSnapshotCloneName, type CloneFile } from '../../src/sources/raw/snapshot-clone.js';
import { runDiskSourceConformance, type MakeDisk } from '../../src/sources/testing/conformance.js';
import { SeededRandom } from '../../src/util/seeded-random.js';
import { copyClone, supportsReflink } from './clone-helpers.js';

/** Disks as image files, each in a fresh directory under `base` (the directory is the artefact listing). */
function imageDisks(base: string, openWith: (path: string, options: OpenDiskOptions) => Promise<DiskSource>): MakeDisk {
  return async (bytes) => {
    const dir = await mkdtemp(join(base, 'boveda-disk-'));
    const path = join(dir, 'vm disk.img');
    await writeFile(path, bytes);
    return {
      open: (options) => openWith(path, options ?? {}),
      resize: (sizeBytes) => truncate(path, sizeBytes),
      write: (offset, data) => writeAt(path, offset, data),
      artefacts: () => readdir(dir),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  };
}

async function writeAt(path: string, offset: number, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(data, 0, data.length, offset);
  } finally {
    await handle.close();
  }
}

const tmpSupportsReflink = await supportsReflink(tmpdir());
const reflinkDirCandidates = [process.env.BOVEDA_REFLINK_DIR, tmpdir(), '/var/tmp', process.cwd()].filter(
  (dir): dir is string => dir !== undefined && dir !== '',
);
let reflinkDir: string | undefined;
for (const dir of reflinkDirCandidates) {
  if (await supportsReflink(dir)) {
    reflinkDir = dir;
    break;
  }
}

runDiskSourceConformance(
  `raw image file in ${tmpdir()} (snapshot attempted: ${tmpSupportsReflink ? 'reflink' : 'falls back to none'})`,
  imageDisks(tmpdir(), (path, options) => openRawDisk(path, options)),
  { expectSnapshot: tmpSupportsReflink ? 'reflink' : 'none' },
);

runDiskSourceConformance(
  'raw image file, snapshot: false',
  imageDisks(tmpdir(), (path, options) => openRawDisk(path, { ...options, snapshot: false })),
  { expectSnapshot: 'none' },
);

runDiskSourceConformance(
  'raw image file, snapshot clone made by plain copy (the clone path without reflink)',
  imageDisks(tmpdir(), (path, options) => openRawDisk(path, options, { cloneFile: copyClone })),
  { expectSnapshot: 'reflink' },
);

// The image is opened through a link in another directory: clones go next to the real file, and
// checkUnchangedSize follows the link.
runDiskSourceConformance(
  'raw image file opened through a symbolic link from another directory (clone by copy)',
  async (bytes) => {
    const base = await mkdtemp(join(tmpdir(), 'boveda-disk-'));
    const images = join(base, 'images');
    const links = join(base, 'links');
    await mkdir(images);
    await mkdir(links);
    const path = join(images, 'vm disk.img');
    await writeFile(path, bytes);
    await symlink(path, join(links, 'vm.img'));
    return {
      open: (options) => openRawDisk(join(links, 'vm.img'), options ?? {}, { cloneFile: copyClone }),
      resize: (sizeBytes) => truncate(path, sizeBytes),
      write: (offset, data) => writeAt(path, offset, data),
      artefacts: async () => [...(await readdir(images)).map((name) => `images/${name}`), ...(await readdir(links)).map((name) => `links/${name}`)],
      cleanup: () => rm(base, { recursive: true, force: true }),
    };
  },
  { expectSnapshot: 'reflink' },
);

if (reflinkDir !== undefined) {
  runDiskSourceConformance(
    `raw image file with real reflink clones in ${reflinkDir}`,
    imageDisks(reflinkDir, (path, options) => openRawDisk(path, options)),
    { expectSnapshot: 'reflink' },
  );
}

function errno(code: string, message = `${code}: fake failure`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'open' });
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, what = 'call'): Promise<BovedaError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isBovedaError(error, code), `${what}: expected ${code}, got ${String(error)}`);
    return error;
  }
  assert.fail(`${what}: expected ${code}, but it succeeded`);
}

describe('openRawDisk on image files', () => {
  let root = '';
  let count = 0;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'boveda-raw-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  /** A fresh directory holding `disk.img` with `bytes`. */
  const image = async (bytes: Uint8Array): Promise<{ dir: string; path: string }> => {
    const dir = join(root, `case-${++count}`);
    await mkdir(dir);
    const path = join(dir, 'disk.img');
    await writeFile(path, bytes);
    return { dir, path };
  };
  const random = (seed: number, length: number): Uint8Array => new SeededRandom(seed).bytes(length);

  it('reports a missing path as DISK_NOT_FOUND naming it', async () => {
    const missing = join(root, 'no-such-vm', 'disk.img');
    const error = await rejectsWith(openRawDisk(missing, {}), 'DISK_NOT_FOUND');
    assert.ok(error.message.includes(missing), error.message);
    const { path } = await image(random(1, 10));
    const through = join(path, 'below-a-file');
    assert.ok((await rejectsWith(openRawDisk(through, {}), 'DISK_NOT_FOUND')).message.includes(through));
    await rejectsWith(diskSize(missing), 'DISK_NOT_FOUND');
  });

  it('refuses a directory with DISK_UNREADABLE', async () => {
    const { dir } = await image(random(2, 10));
    const error = await rejectsWith(openRawDisk(dir, {}), 'DISK_UNREADABLE');
    assert.match(error.message, /not a regular file or block device \(it is a directory\)/);
    assert.ok(error.message.includes(dir));
    await rejectsWith(diskSize(dir), 'DISK_UNREADABLE');
  });

  it('refuses a FIFO without blocking on it', async (t) => {
    const { dir } = await image(random(3, 10));
    const fifo = join(dir, 'pipe');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      t.skip('mkfifo is not available');
      return;
    }
    const error = await rejectsWith(openRawDisk(fifo, {}), 'DISK_UNREADABLE');
    assert.match(error.message, /not a regular file or block device \(it is a FIFO\)/);
  });

  it('refuses a socket and a character device', async () => {
    const { dir } = await image(random(4, 10));
    const socketPath = join(dir, 'sock');
    const server = createServer();
    await new Promise<void>((done) => server.listen(socketPath, done));
    try {
      assert.match((await rejectsWith(openRawDisk(socketPath, {}), 'DISK_UNREADABLE')).message, /it is a socket/);
    } finally {
      await new Promise<void>((done) => server.close(() => done()));
    }
    assert.match((await rejectsWith(openRawDisk('/dev/null', {}), 'DISK_UNREADABLE')).message, /it is a character device/);
  });

  it('opens a relative path and keeps the path as given', async () => {
    const bytes = random(5, 5000);
    const { path } = await image(bytes);
    const given = relative(process.cwd(), path);
    const source = await openRawDisk(given, { snapshot: false });
    try {
      assert.equal(source.path, given);
      const target = new Uint8Array(5000);
      await source.read(0, target);
      assert.deepEqual(target, bytes);
      await source.checkUnchangedSize();
    } finally {
      await source.close();
    }
  });

  it('reads a range larger than one pread chunk in one call', async () => {
    const bytes = random(6, maxReadChunkBytes + 3 * 4096 + 5);
    const { path } = await image(bytes);
    const source = await openRawDisk(path, { snapshot: false });
    try {
      const target = new Uint8Array(bytes.length);
      await source.read(0, target);
      assert.ok(Buffer.from(target).equals(Buffer.from(bytes)));
    } finally {
      await source.close();
    }
  });

  it('names the path and both sizes when a read finds the disk shrunk', async () => {
    const { path } = await image(random(7, 10_000));
    const source = await openRawDisk(path, { snapshot: false });
    try {
      await truncate(path, 6000);
      const error = await rejectsWith(source.read(4096, new Uint8Array(4096)), 'DISK_SIZE_CHANGED');
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, /end of data at byte 6000; it had 10000 bytes when opened and has 6000 bytes now/);
    } finally {
      await source.close();
    }
  });

  it('checkUnchangedSize names both sizes, and reports a deleted disk as DISK_NOT_FOUND', async () => {
    const { path } = await image(random(8, 10_000));
    const source = await openRawDisk(path, { snapshot: false });
    try {
      await truncate(path, 12_000);
      const changed = await rejectsWith(source.checkUnchangedSize(), 'DISK_SIZE_CHANGED');
      assert.match(changed.message, /10000 bytes when opened, 12000 bytes now/);
      await unlink(path);
      assert.match((await rejectsWith(source.checkUnchangedSize(), 'DISK_NOT_FOUND')).message, /no longer exists/);
      // The open descriptor still reads the unlinked file.
      await source.read(0, new Uint8Array(100));
    } finally {
      await source.close();
    }
  });

  it(
    `falls back to reading in place where ${tmpdir()} has no reflink (snapshot 'none' with a note)`,
    { skip: tmpSupportsReflink ? `${tmpdir()} supports reflink clones on this machine` : false },
    async () => {
      const { dir, path } = await image(random(9, 10_000));
      const source = await openRawDisk(path, {});
      try {
        assert.equal(source.snapshot, 'none');
        assert.ok(source.snapshotNote !== null);
        assert.match(source.snapshotNote, /^no point-in-time snapshot: .+ does not support reflink clones \((ENOTSUP|EOPNOTSUPP|EXDEV|EINVAL|ENOTTY|ENOSYS)\); read in place while the VM may write$/);
        assert.ok(source.snapshotNote.includes(` at ${dir} `), source.snapshotNote);
        if ((await statfs(dir)).type === 0xef53) assert.ok(source.snapshotNote.includes('ext2/ext3/ext4'), source.snapshotNote);
        assert.deepEqual(await readdir(dir), ['disk.img'], 'no clone was left by the failed attempt');
      } finally {
        await source.close();
      }
    },
  );

  it('names tmpfs in the note for an image in /dev/shm', async (t) => {
    let dir: string;
    try {
      if ((await statfs('/dev/shm')).type !== 0x01021994) throw new Error('not tmpfs');
      dir = await mkdtemp('/dev/shm/boveda-raw-');
    } catch {
      t.skip('/dev/shm is not a writable tmpfs here');
      return;
    }
    try {
      await writeFile(join(dir, 'disk.img'), random(10, 1000));
      const source = await openRawDisk(join(dir, 'disk.img'), {});
      try {
        if (source.snapshot === 'none') assert.match(source.snapshotNote ?? '', /tmpfs at .* does not support reflink clones/);
      } finally {
        await source.close();
      }
      assert.deepEqual(await readdir(dir), ['disk.img']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says snapshots were turned off when options.snapshot is false', async () => {
    const { path } = await image(random(11, 100));
    const source = await openRawDisk(path, { snapshot: false }, { cloneFile: copyClone });
    try {
      assert.equal(source.snapshot, 'none');
      assert.match(source.snapshotNote ?? '', /snapshots were turned off/);
    } finally {
      await source.close();
    }
  });

  it('falls back with a note naming the failure when the clone cannot be made for another reason, leaving nothing', async () => {
    const { dir, path } = await image(random(12, 100));
    const noSpace: CloneFile = async (_source, target) => {
      await writeFile(target, 'partial'); // a half-made clone must not survive
      throw errno('ENOSPC', 'ENOSPC: no space left on device');
    };
    const source = await openRawDisk(path, {}, { cloneFile: noSpace });
    try {
      assert.equal(source.snapshot, 'none');
      assert.ok(source.snapshotNote?.startsWith(`no point-in-time snapshot: could not create a reflink clone in ${dir} (ENOSPC: no space left on device)`), source.snapshotNote ?? '');
      assert.deepEqual(await readdir(dir), ['disk.img']);
    } finally {
      await source.close();
    }
  });

  it('reads a hidden clone while it exists, isolated from writes to the image; close() removes it', async () => {
    const bytes = random(13, 20_000);
    const { dir, path } = await image(bytes);
    const source = await openRawDisk(path, {}, { cloneFile: copyClone });
    const listing = await readdir(dir);
    assert.equal(listing.length, 2);
    const clone = listing.find((name) => name !== 'disk.img') ?? '';
    assert.ok(isSnapshotCloneName(clone), clone);
    assert.ok(clone.startsWith('.disk.img.boveda-snap-'), clone);
    assert.equal(source.snapshot, 'reflink');
    assert.equal(source.snapshotNote, null);
    await writeAt(path, 0, new Uint8Array(20_000).fill(0xff));
    const target = new Uint8Array(20_000);
    await source.read(0, target);
    assert.deepEqual(target, bytes);
    await source.checkUnchangedSize();
    await source.close();
    await source.close();
    assert.deepEqual(await readdir(dir), ['disk.img']);
  });

  it('removes the clone when open() is aborted after cloning', async () => {
    const { dir, path } = await image(random(14, 1000));
    const controller = new AbortController();
    const cloneThenAbort: CloneFile = async (source, target) => {
      await copyClone(source, target);
      controller.abort(new Error('cancelled mid-open'));
    };
    await rejectsWith(openRawDisk(path, { signal: controller.signal }, { cloneFile: cloneThenAbort }), 'ABORTED');
    assert.deepEqual(await readdir(dir), ['disk.img']);
  });

  it('removes the clone when the clone cannot be opened', async () => {
    const { dir, path } = await image(random(15, 1000));
    const danglingClone: CloneFile = async (_source, target) => {
      await symlink(join(dir, 'nowhere'), target); // opening it fails with ENOENT
    };
    const error = await rejectsWith(openRawDisk(path, {}, { cloneFile: danglingClone }), 'DISK_UNREADABLE');
    assert.match(error.message, /^cannot open the snapshot clone .*\.disk\.img\.boveda-snap-[0-9a-f]{16} of disk .*disk\.img: ENOENT/);
    assert.deepEqual(await readdir(dir), ['disk.img']);
  });

  it('clones next to the real file when opened through a symbolic link from another directory', async () => {
    const bytes = random(16, 3000);
    const { dir, path } = await image(bytes);
    const elsewhere = join(root, `links-${++count}`);
    await mkdir(elsewhere);
    await symlink(path, join(elsewhere, 'vm.img'));
    const source = await openRawDisk(join(elsewhere, 'vm.img'), {}, { cloneFile: copyClone });
    try {
      assert.equal(source.path, join(elsewhere, 'vm.img'));
      assert.deepEqual(await readdir(elsewhere), ['vm.img']);
      assert.equal((await readdir(dir)).filter(isSnapshotCloneName).length, 1);
      await truncate(path, 4000);
      await rejectsWith(source.checkUnchangedSize(), 'DISK_SIZE_CHANGED');
    } finally {
      await source.close();
    }
    assert.deepEqual(await readdir(dir), ['disk.img']);
  });

  it(
    'with real reflink clones, writes to the image after open do not change what is read, and close() removes the clone',
    { skip: reflinkDir === undefined ? `no reflink-capable file system found (tried ${reflinkDirCandidates.join(', ')}; set BOVEDA_REFLINK_DIR to a directory on btrfs or xfs with reflink)` : false },
    async () => {
      const base = await mkdtemp(join(reflinkDir as string, 'boveda-reflink-'));
      try {
        const bytes = random(17, 1024 * 1024);
        const path = join(base, 'disk.img');
        await writeFile(path, bytes);
        const source = await openRawDisk(path, {});
        assert.equal(source.snapshot, 'reflink');
        assert.equal((await readdir(base)).filter(isSnapshotCloneName).length, 1);
        await writeAt(path, 4096, new Uint8Array(65536).fill(7));
        await truncate(path, 512 * 1024);
        const target = new Uint8Array(bytes.length);
        await source.read(0, target);
        assert.ok(Buffer.from(target).equals(Buffer.from(bytes)));
        await rejectsWith(source.checkUnchangedSize(), 'DISK_SIZE_CHANGED');
        await source.close();
        assert.deepEqual(await readdir(base), ['disk.img']);
      } finally {
        await rm(base, { recursive: true, force: true });
      }
    },
  );
});

describe('mapDiskError', () => {
  const cases: Array<[errno: string, expected: ErrorCode, pattern: RegExp]> = [
    ['ENOENT', 'DISK_NOT_FOUND', /^disk \/vms\/a\.img does not exist \(ENOENT\)$/],
    ['ENOTDIR', 'DISK_NOT_FOUND', /does not exist \(ENOTDIR\)/],
    ['EACCES', 'DISK_UNREADABLE', /^cannot open disk \/vms\/a\.img: permission denied \(EACCES\)$/],
    ['EPERM', 'DISK_UNREADABLE', /permission denied \(EPERM\)/],
    ['EIO', 'DISK_UNREADABLE', /^cannot open disk \/vms\/a\.img: EIO: fake failure$/],
    ['ENXIO', 'DISK_UNREADABLE', /ENXIO/],
    ['ELOOP', 'DISK_UNREADABLE', /ELOOP/],
    ['EMFILE', 'DISK_UNREADABLE', /EMFILE/],
  ];
  for (const [code, expected, pattern] of cases) {
    it(`maps ${code} to ${expected}`, () => {
      const cause = errno(code);
      const mapped = mapDiskError(cause, '/vms/a.img', 'open');
      assert.equal(mapped.code, expected);
      assert.match(mapped.message, pattern);
      assert.equal(mapped.cause, cause);
      assert.deepEqual(mapped.details, { path: '/vms/a.img', op: 'open', errno: code });
    });
  }

  it('names the operation and position of a failed read, keeping the cause', () => {
    const cause = errno('EIO', 'EIO: i/o error, read');
    const mapped = mapDiskError(cause, '/dev/sdb', 'read', 'at byte 4096');
    assert.equal(mapped.code, 'DISK_UNREADABLE');
    assert.equal(mapped.message, 'cannot read disk /dev/sdb at byte 4096: EIO: i/o error, read');
    assert.equal(mapped.cause, cause);
    assert.equal(mapDiskError(errno('EACCES'), '/dev/sdb', 'read', 'at byte 0').message, 'cannot read disk /dev/sdb at byte 0: permission denied (EACCES)');
  });

  it('maps AbortError to ABORTED and passes BovedaErrors through', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
    assert.equal(mapDiskError(abort, '/vms/a.img', 'read').code, 'ABORTED');
    const own = new BovedaError('DISK_SIZE_CHANGED', 'x');
    assert.equal(mapDiskError(own, '/vms/a.img', 'read'), own);
    assert.equal(mapDiskError('a string', '/vms/a.img', 'stat').code, 'DISK_UNREADABLE');
  });
});

describe('block-device sizes', () => {
  /** glibc's makedev. */
  const makedev = (major: number, minor: number): bigint => {
    const M = BigInt(major);
    const m = BigInt(minor);
    return ((M & 0xfffn) << 8n) | ((M & ~0xfffn) << 32n) | (m & 0xffn) | ((m & ~0xffn) << 12n);
  };

  it('splits dev_t into major and minor numbers', () => {
    for (const [major, minor] of [
      [8, 0],
      [8, 17],
      [254, 0],
      [259, 3],
      [7, 255],
      [7, 256],
      [4095, 1_048_575],
      [4096, 70_000],
      [1_000_000, 5],
    ] as const) {
      assert.deepEqual(deviceNumbers(makedev(major, minor)), { major, minor }, `${major}:${minor}`);
    }
    assert.deepEqual(deviceNumbers(254 * 256), { major: 254, minor: 0 });
  });

  it('reads <sys>/<major>:<minor>/size in 512-byte sectors', async () => {
    const sys = await mkdtemp(join(tmpdir(), 'boveda-sys-'));
    try {
      await mkdir(join(sys, '8:16'));
      await writeFile(join(sys, '8:16', 'size'), '2048\n');
      assert.equal(await blockDeviceSize('/dev/sdb', makedev(8, 16), sys), 1024 * 1024);
      await mkdir(join(sys, '8:32'));
      await writeFile(join(sys, '8:32', 'size'), 'garbage\n');
      const bad = await rejectsWith(blockDeviceSize('/dev/sdc', makedev(8, 32), sys), 'DISK_UNREADABLE');
      assert.match(bad.message, /^cannot determine the size of block device \/dev\/sdc \(8:32\): .*not a sector count$/);
      const missing = await rejectsWith(blockDeviceSize('/dev/sdd', makedev(8, 48), sys), 'DISK_UNREADABLE');
      assert.ok(missing.message.startsWith('cannot determine the size of block device /dev/sdd (8:48): '), missing.message);
      assert.ok(missing.message.includes(join(sys, '8:48', 'size')), missing.message);
    } finally {
      await rm(sys, { recursive: true, force: true });
    }
  });
});

interface BlockDevice {
  path: string;
  major: number;
  minor: number;
  sysSize: number;
}

interface BlockDeviceSurvey {
  /** Readable devices, those with a non-zero size first. */
  readable: BlockDevice[];
  /** Devices this process may not open (EACCES/EPERM), e.g. by a cgroup device policy. */
  denied: BlockDevice[];
  /** Why each other device was passed over. */
  passedOver: string[];
}

/** The block devices of /sys/dev/block (or only BOVEDA_TEST_BLOCK_DEVICE), opened read-only to see which can be read. */
async function surveyBlockDevices(): Promise<BlockDeviceSurvey> {
  const survey: BlockDeviceSurvey = { readable: [], denied: [], passedOver: [] };
  if (process.platform !== 'linux') return survey;
  const examine = async (path: string): Promise<void> => {
    try {
      const stats = await stat(path, { bigint: true });
      if (!stats.isBlockDevice()) throw new Error('not a block device');
      const { major, minor } = deviceNumbers(stats.rdev);
      const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
      const found = { path, major, minor, sysSize: sectors * 512 };
      try {
        await (await open(path, 'r')).close(); // read-only: these tests never write to a device
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === 'EPERM' || code === 'EACCES') survey.denied.push(found);
        throw error;
      }
      survey.readable.push(found);
    } catch (error) {
      survey.passedOver.push(`${path}: ${(error as Error).message}`);
    }
  };
  const chosen = process.env.BOVEDA_TEST_BLOCK_DEVICE;
  if (chosen !== undefined && chosen !== '') {
    await examine(chosen);
  } else {
    const entries = await readdir('/sys/dev/block').catch(() => [] as string[]);
    for (const entry of entries.sort()) {
      const name = /^DEVNAME=(.+)$/m.exec(await readFile(`/sys/dev/block/${entry}/uevent`, 'utf8').catch(() => ''))?.[1];
      if (name !== undefined) await examine(join('/dev', name));
    }
  }
  survey.readable.sort((a, b) => Number(b.sysSize > 0) - Number(a.sysSize > 0));
  return survey;
}

/** The size /proc/partitions gives (in KiB), as a second opinion; undefined when it is not listed. */
async function procPartitionsSize(major: number, minor: number): Promise<number | undefined> {
  const text = await readFile('/proc/partitions', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [maj, min, blocks] = line.trim().split(/\s+/);
    if (maj === String(major) && min === String(minor) && blocks !== undefined) return Number(blocks) * 1024;
  }
  return undefined;
}

const devices = await surveyBlockDevices();
const device = devices.readable[0];
const noDevice =
  process.platform !== 'linux'
    ? 'block devices are tested on Linux only'
    : `no readable block device (${devices.passedOver.join('; ') || 'none in /sys/dev/block'})`;
const deviceSkip = device === undefined ? noDevice : false;
const denied = devices.denied[0];

describe('openRawDisk on a block device (read only)', () => {
  it(
    `finds the size in /sys/dev/block, reads in place with a note${device === undefined ? '' : ` (${device.path}, ${device.sysSize} bytes)`}`,
    { skip: deviceSkip },
    async () => {
      const found = device as BlockDevice;
      const source = await openRawDisk(found.path, {});
      try {
        assert.equal(source.sizeBytes, found.sysSize);
        const second = await procPartitionsSize(found.major, found.minor);
        if (second !== undefined) assert.equal(source.sizeBytes, second, '/proc/partitions agrees');
        assert.equal(await diskSize(found.path), found.sysSize);
        assert.equal(source.snapshot, 'none');
        assert.equal(source.snapshotNote, `no point-in-time snapshot: ${found.path} is a block device (reflink clones need a regular image file); read in place while the VM may write`);
        if (source.sizeBytes >= 4096) {
          const head = new Uint8Array(4096);
          await source.read(0, head);
          const tail = new Uint8Array(512);
          await source.read(source.sizeBytes - 512, tail);
        }
        await source.read(source.sizeBytes, new Uint8Array(0));
        await rejectsWith(source.read(source.sizeBytes, new Uint8Array(1)), 'INVALID_ARGUMENT');
        await source.checkUnchangedSize();
      } finally {
        await source.close();
        await source.close();
      }
    },
  );

  it('rejects with a clear DISK_UNREADABLE when the size is not published', { skip: deviceSkip }, async () => {
    const found = device as BlockDevice;
    const emptySys = await mkdtemp(join(tmpdir(), 'boveda-sys-'));
    const hooks: RawDiskHooks = { sysBlockDir: emptySys };
    try {
      const error = await rejectsWith(openRawDisk(found.path, {}, hooks), 'DISK_UNREADABLE');
      assert.ok(error.message.startsWith(`cannot determine the size of block device ${found.path} (${found.major}:${found.minor}): `), error.message);
      await rejectsWith(diskSize(found.path, hooks), 'DISK_UNREADABLE');
    } finally {
      await rm(emptySys, { recursive: true, force: true });
    }
  });

  it(
    `reports a device this process may not open as DISK_UNREADABLE, permission denied${denied === undefined ? '' : ` (${denied.path})`}`,
    { skip: denied === undefined ? 'every block device here can be opened' : false },
    async () => {
      const path = (denied as BlockDevice).path;
      const error = await rejectsWith(openRawDisk(path, {}), 'DISK_UNREADABLE');
      assert.match(error.message, new RegExp(`^cannot open disk ${path}: permission denied \\((EPERM|EACCES)\\)$`));
      // Its size is still known without opening it.
      assert.equal(await diskSize(path), (denied as BlockDevice).sysSize);
    },
  );
});
