import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { BovedaError, describeError } from '../../../core/errors.js';

const run = promisify(execFile);

/** The first four bytes of every qcow2 image ("QFI\xfb"). */
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** How long one qemu-img call may take (they only touch metadata). */
const QEMU_IMG_TIMEOUT_MS = 60_000;

/**
 * The image format of a disk path by its first bytes: 'qcow2' for a regular file starting with the
 * qcow2 magic, otherwise 'raw' (block devices, short files, and anything that cannot be opened:
 * the raw path then reports the problem the usual way). Needs no qemu-img.
 */
export async function probeImageFormat(path: string): Promise<'qcow2' | 'raw'> {
  let handle;
  try {
    handle = await open(resolve(path), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return 'raw';
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return 'raw';
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    return bytesRead === 4 && head.equals(QCOW2_MAGIC) ? 'qcow2' : 'raw';
  } catch {
    return 'raw';
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** A persistent bitmap stored in a qcow2 image, as `qemu-img info` lists it. */
export interface ImageBitmap {
  name: string;
  granularity: number;
  /** 'auto': enabled (records writes while a VM runs). */
  enabled: boolean;
  /** 'in-use': the image was not closed cleanly (or is open read-write now): the bitmap is unusable. */
  inUse: boolean;
}

export interface ImageInfo {
  path: string;
  format: string;
  virtualSize: number;
  /** qcow2 compat level ("0.10" = v2: cannot hold bitmaps; "1.1" = v3). */
  compat: string | null;
  bitmaps: ImageBitmap[];
  backingFile: string | null;
}

function qemuToolMissing(error: unknown, tool: string, path: string): BovedaError | undefined {
  if ((error as { code?: unknown } | null)?.code !== 'ENOENT') return undefined;
  return new BovedaError('DISK_UNREADABLE', `disk ${path} is a qcow2 image: reading it needs ${tool} (install qemu-utils)`, { cause: error, details: { path, tool } });
}

function stderrOf(error: unknown): string {
  const stderr = (error as { stderr?: unknown } | null)?.stderr;
  const text = typeof stderr === 'string' ? stderr.trim() : '';
  return text !== '' ? text : describeError(error);
}

function isLockError(text: string): boolean {
  return /Failed to get .*lock|another process using the image/i.test(text);
}

/** The error for an image that a running QEMU (or another tool) holds. */
export function imageInUseError(path: string, detail: string, cause?: unknown): BovedaError {
  return new BovedaError('DISK_UNREADABLE',
    `disk ${path} is in use by another process (a running QEMU holds its lock: ${detail.split('\n')[0]}); a running VM must be backed up through its QMP socket (boveda vm add NAME --qemu-qmp SOCKET)`,
    { cause, details: { path, inUse: true } });
}

/**
 * `qemu-img info --output=json` of an image. Without `shared` the image's lock is taken, so a
 * running QEMU holding it fails with DISK_UNREADABLE (in use); other failures are DISK_UNREADABLE
 * with qemu-img's message.
 */
export async function readImageInfo(path: string, options: { shared?: boolean; signal?: AbortSignal } = {}): Promise<ImageInfo> {
  let stdout: string;
  try {
    ({ stdout } = await run('qemu-img', ['info', '--output=json', ...(options.shared ? ['-U'] : []), resolve(path)], { timeout: QEMU_IMG_TIMEOUT_MS, signal: options.signal, maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    if ((error as Error | null)?.name === 'AbortError') throw new BovedaError('ABORTED', `reading the image information of disk ${path} was cancelled`, { cause: error, details: { path } });
    const missing = qemuToolMissing(error, 'qemu-img', path);
    if (missing) throw missing;
    const text = stderrOf(error);
    if (isLockError(text)) throw imageInUseError(path, text, error);
    throw new BovedaError('DISK_UNREADABLE', `cannot read the image information of disk ${path}: ${text}`, { cause: error, details: { path } });
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(stdout) as Record<string, unknown>;
  } catch (error) {
    throw new BovedaError('DISK_UNREADABLE', `qemu-img info of disk ${path} printed no JSON`, { cause: error, details: { path } });
  }
  const specific = (parsed['format-specific'] as { data?: Record<string, unknown> } | undefined)?.data ?? {};
  const rawBitmaps = Array.isArray(specific.bitmaps) ? specific.bitmaps as Array<Record<string, unknown>> : [];
  const virtualSize = parsed['virtual-size'];
  if (typeof virtualSize !== 'number' || !Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new BovedaError('DISK_UNREADABLE', `qemu-img info of disk ${path} gave no virtual size`, { details: { path } });
  }
  return {
    path,
    format: typeof parsed.format === 'string' ? parsed.format : 'unknown',
    virtualSize,
    compat: typeof specific.compat === 'string' ? specific.compat : null,
    backingFile: typeof parsed['backing-filename'] === 'string' ? parsed['backing-filename'] : null,
    bitmaps: rawBitmaps.filter((bitmap) => typeof bitmap.name === 'string').map((bitmap) => {
      const flags = Array.isArray(bitmap.flags) ? bitmap.flags : [];
      return {
        name: bitmap.name as string,
        granularity: typeof bitmap.granularity === 'number' ? bitmap.granularity : 0,
        enabled: flags.includes('auto'),
        inUse: flags.includes('in-use'),
      };
    }),
  };
}

export type ImageBitmapChange =
  | { op: 'add'; name: string; granularity?: number; disabled?: boolean }
  | { op: 'remove'; name: string }
  | { op: 'merge'; name: string; from: string };

/**
 * `qemu-img bitmap` on a qcow2 image (offline: takes the image's write lock). Fails with
 * DISK_UNREADABLE carrying qemu-img's message (in use: naming the lock).
 */
export async function changeImageBitmap(path: string, change: ImageBitmapChange, options: { signal?: AbortSignal } = {}): Promise<void> {
  const args = ['bitmap'];
  if (change.op === 'add') {
    args.push('--add');
    if (change.granularity) args.push('-g', String(change.granularity));
    if (change.disabled) args.push('--disable');
  } else if (change.op === 'remove') {
    args.push('--remove');
  } else {
    args.push('--merge', change.from);
  }
  args.push('-f', 'qcow2', resolve(path), change.name);
  try {
    await run('qemu-img', args, { timeout: QEMU_IMG_TIMEOUT_MS, signal: options.signal });
  } catch (error) {
    if ((error as Error | null)?.name === 'AbortError') throw new BovedaError('ABORTED', `qemu-img bitmap --${change.op} ${change.name} on disk ${path} was cancelled`, { cause: error, details: { path } });
    const missing = qemuToolMissing(error, 'qemu-img', path);
    if (missing) throw missing;
    const text = stderrOf(error);
    if (isLockError(text)) throw imageInUseError(path, text, error);
    throw new BovedaError('DISK_UNREADABLE', `qemu-img bitmap --${change.op} ${change.name} failed on disk ${path}: ${text}`, { cause: error, details: { path, bitmap: change.name } });
  }
}

/** A read-only qemu-nbd export of one image, on a private unix socket. */
export interface QemuNbdExport {
  socketPath: string;
  exportName: string;
  pid: number;
  /** Stops qemu-nbd (SIGTERM, then SIGKILL) and waits until it is gone; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `qemu-nbd --read-only --persistent --fork` on an image in `workDir` (socket and pid file
 * there), optionally exporting a dirty bitmap (`-B`). qemu-nbd forks once the socket listens, so
 * the export is ready when this resolves.
 */
export async function startQemuNbd(path: string, options: { format: 'qcow2' | 'raw'; workDir: string; name: string; bitmap?: string | null; signal?: AbortSignal }): Promise<QemuNbdExport> {
  const socketPath = join(options.workDir, `${options.name}.sock`);
  const pidFile = join(options.workDir, `${options.name}.pid`);
  const args = [
    '--read-only', '--persistent', '--shared=4', '-f', options.format, '-x', options.name,
    ...(options.bitmap ? ['-B', options.bitmap] : []),
    `--socket=${socketPath}`, `--pid-file=${pidFile}`, '--fork', resolve(path),
  ];
  try {
    await run('qemu-nbd', args, { timeout: QEMU_IMG_TIMEOUT_MS });
  } catch (error) {
    // A daemon that did start (e.g. the parent was killed by the timeout) is stopped.
    const pid = await readPid(pidFile);
    if (pid) await stopPid(pid);
    const missing = qemuToolMissing(error, 'qemu-nbd', path);
    if (missing) throw missing;
    const text = stderrOf(error);
    if (isLockError(text)) throw imageInUseError(path, text, error);
    throw new BovedaError('DISK_UNREADABLE', `cannot export disk ${path} with qemu-nbd: ${text}`, { cause: error, details: { path } });
  }
  const pid = await readPid(pidFile);
  if (!pid) throw new BovedaError('DISK_UNREADABLE', `qemu-nbd started for disk ${path} but wrote no pid file ${pidFile}`, { details: { path } });
  let stopping: Promise<void> | undefined;
  const exported: QemuNbdExport = {
    socketPath, exportName: options.name, pid,
    stop: () => {
      stopping ??= (async () => {
        await stopPid(pid);
        await rm(socketPath, { force: true });
        await rm(pidFile, { force: true });
      })();
      return stopping;
    },
  };
  if (options.signal?.aborted) {
    await exported.stop();
    throw new BovedaError('ABORTED', `exporting disk ${path} was cancelled`, { details: { path } });
  }
  return exported;
}

async function readPid(pidFile: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True while `pid` is a live process (a zombie counts as gone: it holds no files). */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function stopPid(pid: number): Promise<void> {
  const send = (signal: NodeJS.Signals) => {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  };
  if (!(await alive(pid))) return;
  send('SIGTERM');
  const deadline = Date.now() + 5_000;
  while (await alive(pid)) {
    if (Date.now() > deadline) {
      send('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (!(await alive(pid))) return;
      throw new BovedaError('INTERNAL', `qemu-nbd (pid ${pid}) did not exit after SIGTERM and SIGKILL`, { details: { pid } });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
