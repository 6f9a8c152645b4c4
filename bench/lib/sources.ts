import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { DiskReadSource } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { selectUsrFiles } from './usr-files.js';
import { MiB } from './units.js';

/** Every 4 KiB unit of a pattern disk starts with its own offset, so no two blocks are equal at any block size ≥ 4 KiB. */
const STAMP_UNIT = 4096;

/**
 * A synthetic disk of any size generated on the fly from a fixed pool of bytes: nothing is held
 * per byte of disk, so memory measured while backing it up is the vault's, not the source's.
 * The pool repeats, but each 4 KiB unit is stamped with its offset (8 bytes), so blocks never
 * deduplicate and their compressibility is the pool's.
 */
export class PatternDisk implements DiskReadSource {
  readonly name: string;
  readonly sizeBytes: number;
  readonly #pool: Uint8Array;

  constructor(name: string, sizeBytes: number, pool: Uint8Array) {
    if (pool.length < STAMP_UNIT || pool.length % STAMP_UNIT !== 0) throw new Error('pattern pool must be a non-empty multiple of 4 KiB');
    this.name = name;
    this.sizeBytes = sizeBytes;
    this.#pool = pool;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    return this.fill(new Uint8Array(length), offset);
  }

  /** The bytes at [offset, offset + target.length). */
  fill(target: Uint8Array, offset: number): Uint8Array {
    const pool = this.#pool;
    let done = 0;
    while (done < target.length) {
      const at = (offset + done) % pool.length;
      const take = Math.min(target.length - done, pool.length - at);
      target.set(pool.subarray(at, at + take), done);
      done += take;
    }
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    for (let unit = Math.ceil(offset / STAMP_UNIT) * STAMP_UNIT; unit + 8 <= offset + target.length; unit += STAMP_UNIT) {
      view.setUint32(unit - offset, unit % 0x1_0000_0000, true);
      view.setUint32(unit - offset + 4, Math.floor(unit / 0x1_0000_0000) ^ 0x5a5a5a5a, true);
    }
    return target;
  }
}

/** Incompressible pool: seeded pseudo-random bytes. */
export function randomPool(bytes: number, seed = 0xb0feda): Uint8Array {
  return new SeededRandom(seed).bytes(bytes);
}

/** Already-compressed formats are left out of the compressible corpus. */
const COMPRESSED = /\.(gz|xz|bz2|zst|lz4|lzma|zip|jar|whl|png|jpe?g|gif|webp|ico|woff2?|ttf|otf|mo|pyc|deb)$/i;

/**
 * Compressible pool: real bytes of /usr files (the same deterministic path-hash sample the
 * reference image uses, minus already-compressed formats), concatenated. Cached in `cacheDir` so
 * every bench process of one run uses identical bytes. Where /usr cannot supply enough, the rest
 * is text-like filler.
 */
export async function usrCorpusPool(bytes: number, cacheDir: string): Promise<{ pool: Uint8Array; description: string }> {
  const cache = join(cacheDir, `corpus-usr-${bytes}.bin`);
  const note = `${cache}.txt`;
  try {
    const pool = new Uint8Array(await fs.readFile(cache));
    if (pool.length === bytes) return { pool, description: await fs.readFile(note, 'utf8') };
  } catch {
    // not cached yet
  }
  const files = await selectUsrFiles({ budgetBytes: bytes * 2, accept: (file) => !COMPRESSED.test(file.relative) && file.size > 0 });
  const pool = new Uint8Array(bytes);
  let filled = 0;
  let used = 0;
  for (const file of files) {
    if (filled >= bytes) break;
    let data: Buffer;
    try {
      data = await fs.readFile(file.path);
    } catch {
      continue;
    }
    const take = Math.min(data.length, bytes - filled);
    pool.set(data.subarray(0, take), filled);
    filled += take;
    used++;
  }
  let description = `${used} files from /usr (path-hash sample, compressed formats skipped)`;
  if (filled < bytes) {
    pool.set(textLike(bytes - filled, 7), filled);
    description += `, ${((bytes - filled) / MiB).toFixed(1)} MiB text-like filler`;
  }
  await fs.mkdir(cacheDir, { recursive: true });
  await fs.writeFile(cache, pool);
  await fs.writeFile(note, description);
  return { pool, description };
}

const WORDS = ('the of and to in is that for it as with was on be by this are from or at an which not have all can ' +
  'block disk vault backup restore point index pack page map hash seal open error return const function value size ' +
  'if else while for let new true false null undefined async await import export class interface type string number').split(' ');

/** Seeded text-like bytes (words, punctuation, newlines): compresses about like source code. */
export function textLike(bytes: number, seed: number): Uint8Array {
  const rng = new SeededRandom(seed);
  const out = new Uint8Array(bytes);
  const encoder = new TextEncoder();
  let at = 0;
  let column = 0;
  while (at < bytes) {
    const word = WORDS[rng.int(WORDS.length)]!;
    const piece = encoder.encode(column > 72 ? `${word}\n` : rng.int(12) === 0 ? `${word}${rng.int(1000)}; ` : `${word} `);
    column = column > 72 ? 0 : column + piece.length;
    out.set(piece.subarray(0, Math.min(piece.length, bytes - at)), at);
    at += piece.length;
  }
  return out;
}

/** A disk image file as a DiskReadSource (positional reads on one handle; sparse holes read as zeros). */
export class FileDisk implements DiskReadSource {
  readonly name: string;
  readonly sizeBytes: number;
  readonly #handle: fs.FileHandle;

  private constructor(name: string, sizeBytes: number, handle: fs.FileHandle) {
    this.name = name;
    this.sizeBytes = sizeBytes;
    this.#handle = handle;
  }

  static async open(path: string, name = 'disk0'): Promise<FileDisk> {
    const handle = await fs.open(path, 'r');
    const info = await handle.stat();
    return new FileDisk(name, info.size, handle);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.#handle.read(out, filled, length - filled, offset + filled);
      if (bytesRead === 0) throw new Error(`${this.name}: unexpected end of file at ${offset + filled}`);
      filled += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}
