import { spawn } from 'node:child_process';
import { BovedaError } from '../core/index.js';
import { throwIfAborted } from '../util/index.js';

/**
 * The `qemu-img` tool: restores to qcow2 images convert a sparse raw image with it. The binary is
 * `qemu-img` on PATH unless BOVEDA_QEMU_IMG (or the caller) names another one.
 */
export function qemuImgCommand(override?: string): string {
  return override ?? (process.env.BOVEDA_QEMU_IMG || 'qemu-img');
}

const INSTALL_HINT = 'install QEMU\'s image tools (Debian/Ubuntu: apt install qemu-utils; Fedora/RHEL: dnf install qemu-img; Arch: pacman -S qemu-img) or set BOVEDA_QEMU_IMG to its path';
const OUTPUT_TAIL = 2000;

/**
 * Checks that qemu-img runs (`qemu-img --version`), before any data is written. A missing binary is
 * INVALID_ARGUMENT naming qemu-img and how to install it.
 */
export async function checkQemuImg(command: string, signal?: AbortSignal): Promise<void> {
  await run(command, ['--version'], { signal, what: `${command} --version` });
}

/**
 * `qemu-img convert -f raw -O <format>`: qemu-img skips zero and unallocated regions, so a sparse
 * source gives a sparse target. Progress comes from `-p` (a fraction of the virtual size). On
 * abort qemu-img is killed and the call rejects with ABORTED once it has exited; the caller removes
 * the target.
 */
export async function convertImage(
  command: string, source: string, target: string, format: 'qcow2' | 'raw',
  options: { signal?: AbortSignal; onFraction?: (fraction: number) => void } = {},
): Promise<void> {
  await run(command, ['convert', '-p', '-f', 'raw', '-O', format, source, target], {
    signal: options.signal, what: `qemu-img convert of ${source} to ${target}`, onStdout: (text) => {
      // "    (12.34/100%)\r" per update.
      for (const match of text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) options.onFraction?.(Math.min(1, Number(match[1]) / 100));
    },
  });
}

async function run(command: string, args: string[], options: { signal?: AbortSignal; what: string; onStdout?: (text: string) => void }): Promise<void> {
  throwIfAborted(options.signal, options.what);
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    let settled = false;
    let aborted = false;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (text: string) => options.onStdout?.(text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-OUTPUT_TAIL);
    });
    const finish = (error?: BovedaError) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => {
      aborted = true;
      child.kill('SIGKILL');
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        finish(new BovedaError('INVALID_ARGUMENT', `qcow2 images need qemu-img, which was not found (tried "${command}"): ${INSTALL_HINT}`, { cause: error }));
      } else {
        finish(new BovedaError('STORAGE_IO', `cannot run ${command}: ${error.message}`, { cause: error }));
      }
    });
    // 'close', not 'exit': the pipes are drained, so the last progress line has been seen.
    child.on('close', (code, signal) => {
      if (aborted || options.signal?.aborted) {
        finish(new BovedaError('ABORTED', `${options.what} was cancelled`, { cause: options.signal?.reason }));
      } else if (code === 0) {
        finish();
      } else {
        const tail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' / ')}` : '';
        finish(new BovedaError('STORAGE_IO', `${options.what} failed (${signal ? `killed by ${signal}` : `exit ${code}`})${tail}`));
      }
    });
  });
}
