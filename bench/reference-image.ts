/**
 * The reference disk image for backup benchmarks and studies, and the churn applied to it.
 *
 * Image: a 4 GiB ext4 file system made with `mke2fs -t ext4 -d DIR -F IMG 4G` over about 2.2 GB
 * of real files copied from /usr (bench/lib/usr-files.ts: world-readable regular files outside
 * /usr/local, sampled in SHA-256-of-path order, listed sorted). It is built to be reproducible:
 * same selection and e2fsprogs → the same bytes. What would otherwise differ between builds is
 * pinned:
 *   - file modes are copied without setuid/setgid/sticky bits, directories are 0755, and every
 *     mtime/atime is set to REFERENCE_EPOCH before mke2fs sees the tree;
 *   - mke2fs runs with LC_ALL=C (its scandir order), E2FSPROGS_FAKE_TIME, a fixed UUID and a
 *     fixed directory hash seed;
 *   - mke2fs copies each file's ctime (the time of our copy) and owner (whoever ran the build), so
 *     afterwards debugfs sets ctime, uid and gid of every used inode to fixed values.
 * Verified: two builds of the same selection are byte-identical (sha256 recorded in IMG.json).
 *
 * Churn (in place, seeded, deterministic for a given image size):
 *   - churn1Percent: 1% of the image as scattered 4 KiB writes of random bytes at distinct
 *     4 KiB-aligned offsets (a busy file system's small random updates);
 *   - churn5Percent: 5% of the image as 1 MiB writes of random bytes at non-overlapping 4 KiB-aligned
 *     offsets (files rewritten or appended in large extents).
 * Offsets are uniform over the whole image, used or free, like a guest that allocates anywhere.
 *
 * CLI (after `npm run build`):
 *   node dist/bench/reference-image.js build [--out IMG] [--size 4G] [--data 2.2G] [--force]
 *   node dist/bench/reference-image.js churn1 IMG [--seed N]
 *   node dist/bench/reference-image.js churn5 IMG [--seed N]
 *   node dist/bench/reference-image.js select [--data 2.2G]
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SeededRandom } from '../src/util/index.js';
import { selectUsrFiles, selectionDigest, totalSize, type UsrFile } from './lib/usr-files.js';
import { GiB, KiB, MiB, parseBytes, size } from './lib/units.js';

export const REFERENCE_IMAGE_BYTES = 4 * GiB;
export const REFERENCE_DATA_BYTES = 2_200_000_000;
export const REFERENCE_IMAGE_PATH = 'bench-work/reference/boveda-ref-4g.img';
/** 2023-11-14T22:13:20Z: every time stamp inside the image. */
export const REFERENCE_EPOCH = 1_700_000_000;
export const REFERENCE_UUID = '6f8e0f0e-0b0a-4d0c-9e6e-626f76656461';
export const REFERENCE_LABEL = 'boveda-ref';

export interface ReferenceImageOptions {
  /** Image file to create (default bench-work/reference/boveda-ref-4g.img under the current directory). */
  path?: string;
  imageBytes?: number;
  /** Bytes of /usr files to copy in. */
  dataBytes?: number;
  /** Rebuild even when a matching image exists. */
  force?: boolean;
  log?: (line: string) => void;
}

/** What IMG.json records about a built image. */
export interface ReferenceImageInfo {
  path: string;
  imageBytes: number;
  dataBytes: number;
  fileCount: number;
  /** selectionDigest() of the copied files: equal digests, equal content. */
  selection: string;
  mke2fs: string;
  sha256: string;
  builtAt: string;
  buildSeconds: number;
}

/** Returns the image at `path`, building it unless one with the same parameters and file selection exists. */
export async function ensureReferenceImage(options: ReferenceImageOptions = {}): Promise<ReferenceImageInfo> {
  const path = resolve(options.path ?? REFERENCE_IMAGE_PATH);
  const imageBytes = options.imageBytes ?? REFERENCE_IMAGE_BYTES;
  const dataBytes = options.dataBytes ?? REFERENCE_DATA_BYTES;
  const log = options.log ?? (() => undefined);
  const files = await selectUsrFiles({ budgetBytes: dataBytes });
  const selection = selectionDigest(files);
  if (!options.force) {
    const existing = await readInfo(path);
    const stat = await fs.stat(path).catch(() => undefined);
    if (existing && stat?.size === imageBytes && existing.imageBytes === imageBytes && existing.selection === selection) {
      log(`reference image ${path} is up to date (${existing.fileCount} files, ${size(existing.dataBytes)}, sha256 ${existing.sha256.slice(0, 16)}…)`);
      return existing;
    }
  }
  return buildReferenceImage(path, imageBytes, files, log);
}

/** Builds the image from a given selection (see the file comment for what makes it reproducible). */
export async function buildReferenceImage(path: string, imageBytes: number, files: readonly UsrFile[], log: (line: string) => void = () => undefined): Promise<ReferenceImageInfo> {
  const started = performance.now();
  const staging = `${path}.staging`;
  const dataBytes = totalSize(files);
  await fs.mkdir(dirname(path), { recursive: true });
  await fs.rm(staging, { recursive: true, force: true });
  await fs.rm(path, { force: true });
  await fs.rm(infoPath(path), { force: true });
  try {
    log(`copying ${files.length} files (${size(dataBytes)}) from /usr to ${staging}`);
    await stageFiles(files, staging);
    log(`mke2fs -t ext4 -d ${staging} -F ${path} ${imageBytes / MiB}M`);
    const env = { ...process.env, LC_ALL: 'C', E2FSPROGS_FAKE_TIME: String(REFERENCE_EPOCH) };
    await run('mke2fs', [
      '-q', '-t', 'ext4', '-L', REFERENCE_LABEL, '-U', REFERENCE_UUID,
      '-E', `hash_seed=${REFERENCE_UUID},root_owner=0:0`,
      '-d', staging, '-F', path, `${imageBytes / KiB}k`,
    ], { env, quiet: true });
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
  log('pinning ctime, uid and gid of every inode (debugfs)');
  await pinInodes(path);
  await run('e2fsck', ['-f', '-n', path], { quiet: true });
  log('hashing the image');
  const info: ReferenceImageInfo = {
    path,
    imageBytes,
    dataBytes,
    fileCount: files.length,
    selection: selectionDigest(files),
    mke2fs: (await run('mke2fs', ['-V'], { capture: true })).split('\n')[0]!.trim(),
    sha256: await sha256File(path),
    builtAt: new Date().toISOString(),
    buildSeconds: (performance.now() - started) / 1000,
  };
  await fs.writeFile(infoPath(path), `${JSON.stringify(info, null, 2)}\n`);
  await fs.writeFile(`${path}.files.txt`, files.map((file) => `${file.relative}\t${file.size}\t${file.mode.toString(8)}`).join('\n') + '\n');
  log(`built ${path} in ${info.buildSeconds.toFixed(0)} s: ${info.fileCount} files, ${size(dataBytes)}, sha256 ${info.sha256}`);
  return info;
}

async function stageFiles(files: readonly UsrFile[], staging: string): Promise<void> {
  const directories = new Set<string>([staging]);
  for (const file of files) {
    for (let dir = dirname(join(staging, file.relative)); dir.length > staging.length; dir = dirname(dir)) directories.add(dir);
  }
  for (const dir of [...directories].sort()) await fs.mkdir(dir, { recursive: true });
  let next = 0;
  const copyOne = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      const target = join(staging, file.relative);
      await fs.copyFile(file.path, target);
      await fs.chmod(target, file.mode & 0o777);
      await fs.utimes(target, REFERENCE_EPOCH, REFERENCE_EPOCH);
    }
  };
  await Promise.all(Array.from({ length: 4 }, copyOne));
  // Deepest first, so setting a child's times cannot touch a parent already set.
  for (const dir of [...directories].sort((a, b) => b.length - a.length)) {
    await fs.chmod(dir, 0o755);
    await fs.utimes(dir, REFERENCE_EPOCH, REFERENCE_EPOCH);
  }
}

/** Sets ctime, uid and gid of every used inode to fixed values: the two things mke2fs -d copies that a copy cannot fix. */
async function pinInodes(path: string): Promise<void> {
  const dump = await run('dumpe2fs', [path], { capture: true });
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(dump)?.[1]);
  if (!perGroup) throw new Error(`dumpe2fs ${path}: no "Inodes per group"`);
  const commands: string[] = [];
  const groups = dump.split(/^Group (?=\d+:)/m).slice(1);
  for (const group of groups) {
    const number = Number(/^(\d+):/.exec(group)?.[1]);
    const freeLine = /^ {2}Free inodes: ?(.*)$/m.exec(group);
    if (!Number.isInteger(number) || !freeLine) throw new Error(`dumpe2fs ${path}: cannot parse group ${group.slice(0, 40)}`);
    const free = new Uint8Array(perGroup);
    for (const part of freeLine[1]!.split(',').map((text) => text.trim()).filter(Boolean)) {
      const [from, to] = part.split('-').map(Number);
      for (let inode = from!; inode <= (to ?? from!); inode++) free[inode - number * perGroup - 1] = 1;
    }
    for (let i = 0; i < perGroup; i++) {
      if (free[i]) continue;
      const inode = number * perGroup + i + 1;
      commands.push(`sif <${inode}> ctime @${REFERENCE_EPOCH}`, `sif <${inode}> uid 0`, `sif <${inode}> gid 0`);
    }
  }
  const script = `${path}.debugfs`;
  await fs.writeFile(script, `${commands.join('\n')}\n`);
  try {
    await run('debugfs', ['-w', '-f', script, path], { env: { ...process.env, E2FSPROGS_FAKE_TIME: String(REFERENCE_EPOCH) }, quiet: true });
  } finally {
    await fs.rm(script, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Churn

export interface ChurnOptions {
  /** Fraction of the image to overwrite (0.01 = 1%). */
  fraction: number;
  /** Bytes per write. */
  writeBytes: number;
  /** Writes start at multiples of this (the guest file system's block). */
  align?: number;
  seed: number;
}

export interface ChurnResult {
  writes: number;
  bytesWritten: number;
  /** Write offsets, sorted. */
  offsets: number[];
  writeBytes: number;
  seconds: number;
}

/**
 * Overwrites round(fraction × size ÷ writeBytes) non-overlapping, aligned extents of the image,
 * at seeded-random offsets, with seeded-random bytes, then fsyncs. The same seed on an image of
 * the same size always writes the same bytes at the same places.
 */
export async function applyChurn(path: string, options: ChurnOptions): Promise<ChurnResult> {
  const started = performance.now();
  const align = options.align ?? 4 * KiB;
  if (options.writeBytes % align !== 0) throw new Error(`churn write size ${options.writeBytes} is not a multiple of the alignment ${align}`);
  const handle = await fs.open(path, 'r+');
  try {
    const imageBytes = (await handle.stat()).size;
    const units = Math.floor(imageBytes / align);
    const span = options.writeBytes / align;
    const writes = Math.round((options.fraction * imageBytes) / options.writeBytes);
    if (writes * span > units / 2) throw new Error(`churn of ${writes} × ${size(options.writeBytes)} does not fit sparsely in ${size(imageBytes)}`);
    const rng = new SeededRandom(options.seed);
    const used = new Uint8Array(units);
    const offsets: number[] = [];
    while (offsets.length < writes) {
      const first = rng.int(units - span + 1);
      let free = true;
      for (let unit = first; unit < first + span && free; unit++) free = used[unit] === 0;
      if (!free) continue;
      used.fill(1, first, first + span);
      offsets.push(first * align);
    }
    const data = new Uint8Array(options.writeBytes);
    for (const offset of offsets) {
      rng.fill(data);
      let done = 0;
      while (done < data.length) done += (await handle.write(data, done, data.length - done, offset + done)).bytesWritten;
    }
    await handle.sync();
    return { writes, bytesWritten: writes * options.writeBytes, offsets: offsets.sort((a, b) => a - b), writeBytes: options.writeBytes, seconds: (performance.now() - started) / 1000 };
  } finally {
    await handle.close();
  }
}

/** 1% of the image as scattered 4 KiB random writes. */
export function churn1Percent(path: string, seed = 1): Promise<ChurnResult> {
  return applyChurn(path, { fraction: 0.01, writeBytes: 4 * KiB, align: 4 * KiB, seed });
}

/** 5% of the image as 1 MiB contiguous random writes (4 KiB-aligned, so most straddle block boundaries). */
export function churn5Percent(path: string, seed = 5): Promise<ChurnResult> {
  return applyChurn(path, { fraction: 0.05, writeBytes: MiB, align: 4 * KiB, seed });
}

// ---------------------------------------------------------------------------------------------
// Helpers

function infoPath(path: string): string {
  return `${path}.json`;
}

async function readInfo(path: string): Promise<ReferenceImageInfo | undefined> {
  try {
    return JSON.parse(await fs.readFile(infoPath(path), 'utf8')) as ReferenceImageInfo;
  } catch {
    return undefined;
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Copies an image keeping its holes (cp --sparse=always), so copies cost only the used blocks. */
export async function copySparse(from: string, to: string): Promise<void> {
  await fs.rm(to, { force: true });
  await run('cp', ['--sparse=always', from, to]);
}

/** Runs a command; rejects with its stderr on a non-zero exit. `capture` returns stdout. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; capture?: boolean; quiet?: boolean } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', options.capture ? 'pipe' : options.quiet ? 'ignore' : 'inherit', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString();
      if (code !== 0) reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${stderr.trim().slice(-2000)}`));
      else resolvePromise(options.capture ? Buffer.concat(out).toString() + (args.includes('-V') ? stderr : '') : '');
    });
  });
}

// ---------------------------------------------------------------------------------------------
// CLI

async function cli(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--force') flags.set('force', '1');
    else if (arg.startsWith('--')) flags.set(arg.slice(2), rest[++i] ?? '');
    else positional.push(arg);
  }
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (command === 'build') {
    const info = await ensureReferenceImage({
      path: flags.get('out'),
      imageBytes: flags.has('size') ? parseBytes(flags.get('size')!) : undefined,
      dataBytes: flags.has('data') ? parseBytes(flags.get('data')!) : undefined,
      force: flags.has('force'),
      log,
    });
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  } else if (command === 'churn1' || command === 'churn5') {
    const path = positional[0];
    if (!path) throw new Error(`usage: reference-image.js ${command} IMG [--seed N]`);
    const seed = flags.has('seed') ? Number(flags.get('seed')) : undefined;
    const result = command === 'churn1' ? await churn1Percent(path, seed) : await churn5Percent(path, seed);
    process.stdout.write(`${result.writes} writes of ${size(result.writeBytes)} (${size(result.bytesWritten)}) in ${result.seconds.toFixed(1)} s\n`);
  } else if (command === 'select') {
    const files = await selectUsrFiles({ budgetBytes: flags.has('data') ? parseBytes(flags.get('data')!) : REFERENCE_DATA_BYTES });
    const top = new Map<string, number>();
    for (const file of files) {
      const key = file.relative.split('/').slice(0, 2).join('/');
      top.set(key, (top.get(key) ?? 0) + file.size);
    }
    for (const [dir, bytes] of [...top].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${size(bytes).padStart(10)}  ${dir}\n`);
    process.stdout.write(`${files.length} files, ${size(totalSize(files))}, selection ${selectionDigest(files)}\n`);
  } else {
    throw new Error('usage: reference-image.js build [--out IMG] [--size 4G] [--data 2.2G] [--force] | churn1 IMG [--seed N] | churn5 IMG [--seed N] | select [--data 2.2G]');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await cli(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
