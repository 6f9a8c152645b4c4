import { execFile, spawn } from 'node:child_process';
import { existsSync, type Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * External programs measured from outside: wall time, peak memory and CPU of the whole process
 * (tree), the way a user would see them. With GNU time (Debian package `time`) a command runs
 * under `/usr/bin/time -f "%M %U %S"`: the kernel's max RSS of the process (or of its largest
 * waited-for descendant) and CPU seconds of all of them. Without it, /proc is polled every 50 ms
 * for the process tree: the highest sum of VmRSS seen, or the highest single VmHWM if larger; CPU
 * from the last sample. The two agree for one process (restic, borg, Boveda's node with its
 * worker threads); for a tree of live processes polling counts them together.
 */

export const GNU_TIME = '/usr/bin/time';

export interface Measured {
  seconds: number;
  /** Peak resident memory, bytes. */
  peakRss: number;
  /** User + system CPU seconds of the process (tree); NaN when unknown. */
  cpuSeconds: number;
  /** CPU cores used by everything else on the machine while it ran (kernel threads included). */
  otherCores: number;
  /** How peak memory was measured. */
  memoryMethod: 'gnu-time' | 'proc-poll';
  stdout: string;
  stderr: string;
}

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep at most this many bytes of stdout/stderr (the tail). */
  keepBytes?: number;
  /** 'proc-poll' measures from /proc even when GNU time is there (default: GNU time when installed). */
  method?: 'auto' | 'proc-poll';
}

/** The full path of a program on PATH (`which`), or undefined. */
export function which(program: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('which', [program], { encoding: 'utf8' }, (error, stdout) => resolve(error ? undefined : stdout.trim() || undefined));
  });
}

/** Runs a command to completion and returns its stdout (throws with the stderr tail on failure). */
export function capture(command: string, args: string[], options: MeasureOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', env: options.env ?? process.env, cwd: options.cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')}: ${(stderr || error.message).trim().slice(-1500)}`));
      else resolve(stdout);
    });
  });
}

/** Busy CPU seconds of the whole machine since boot (all cores). */
export function machineBusySeconds(): number {
  let ms = 0;
  for (const cpu of cpus()) ms += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  return ms / 1000;
}

class Tail {
  readonly #chunks: Buffer[] = [];
  #bytes = 0;
  constructor(readonly limit: number) {}
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes - (this.#chunks[0]?.length ?? 0) >= this.limit && this.#chunks.length > 1) this.#bytes -= this.#chunks.shift()!.length;
  }
  toString(): string {
    const text = Buffer.concat(this.#chunks).toString();
    return text.length > this.limit ? text.slice(-this.limit) : text;
  }
}

/**
 * Runs `command args` and measures it. Rejects (with the stderr tail) when it exits non-zero or
 * is killed; stdout and stderr are kept (their tails) for the caller.
 */
export async function measure(command: string, args: string[], options: MeasureOptions = {}): Promise<Measured> {
  const useTime = options.method !== 'proc-poll' && existsSync(GNU_TIME);
  const keep = options.keepBytes ?? 64 * 1024;
  const timeFile = useTime ? join(await fs.mkdtemp(join(tmpdir(), 'bench-measure-')), 'time') : '';
  const argv = useTime ? [GNU_TIME, '-f', '%M %U %S', '-o', timeFile, command, ...args] : [command, ...args];
  const busyBefore = machineBusySeconds();
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = new Tail(keep);
  const stderr = new Tail(keep);
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const poller = useTime || child.pid === undefined ? undefined : new TreePoller(child.pid);
  const polling = poller?.run();
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
  });
  const seconds = (performance.now() - started) / 1000;
  poller?.stop();
  await polling;
  const own = process.cpuUsage(ownBefore);
  const busy = machineBusySeconds() - busyBefore;

  let peakRss = Number.NaN;
  let cpuSeconds = Number.NaN;
  if (useTime) {
    const text = await fs.readFile(timeFile, 'utf8').catch(() => '');
    await fs.rm(join(timeFile, '..'), { recursive: true, force: true });
    // GNU time puts "Command exited with non-zero status N" before the format line when it fails.
    const last = text.trim().split('\n').pop() ?? '';
    const [kb, user, system] = last.trim().split(/\s+/).map(Number);
    if (Number.isFinite(kb)) peakRss = kb! * 1024;
    if (Number.isFinite(user) && Number.isFinite(system)) cpuSeconds = user! + system!;
  } else if (poller) {
    peakRss = poller.peakRss;
    cpuSeconds = poller.cpuSeconds;
  }
  const toolCpu = Number.isFinite(cpuSeconds) ? cpuSeconds : 0;
  const otherCores = Math.max(0, busy - toolCpu - (own.user + own.system) / 1e6) / Math.max(seconds, 1e-3);
  if (code !== 0) {
    const why = signal ? `killed by ${signal}` : `exited with ${code}`;
    const message = (stderr.toString().trim() || stdout.toString().trim()).split('\n').slice(-8).join('\n');
    throw new Error(`${[command, ...args].join(' ')} ${why}${message ? `: ${message}` : ''}`);
  }
  return { seconds, peakRss, cpuSeconds, otherCores, memoryMethod: useTime ? 'gnu-time' : 'proc-poll', stdout: stdout.toString(), stderr: stderr.toString() };
}

/** Polls /proc for a process and its descendants: peak memory and CPU, when GNU time is absent. */
class TreePoller {
  peakRss = 0;
  cpuSeconds = 0;
  #stopped = false;
  readonly #cpuByPid = new Map<number, number>();
  readonly #ticks = 100;

  constructor(readonly root: number) {}

  stop(): void {
    this.#stopped = true;
  }

  async run(): Promise<void> {
    while (!this.#stopped) {
      await this.sample().catch(() => undefined);
      await sleep(50);
    }
  }

  async sample(): Promise<void> {
    const parents = new Map<number, number[]>();
    for (const entry of await fs.readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = await fs.readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      if (!parents.has(ppid)) parents.set(ppid, []);
      parents.get(ppid)!.push(Number(entry));
    }
    const tree: number[] = [];
    for (let queue = [this.root]; queue.length > 0;) {
      const pid = queue.pop()!;
      tree.push(pid);
      queue = queue.concat(parents.get(pid) ?? []);
    }
    let rss = 0;
    for (const pid of tree) {
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const vmRss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      const vmHwm = Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
      rss += vmRss;
      this.peakRss = Math.max(this.peakRss, vmHwm);
      const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of stat (12 and 13 after the command name).
      const ticks = Number(fields[11]) + Number(fields[12]);
      if (Number.isFinite(ticks)) this.#cpuByPid.set(pid, ticks / this.#ticks);
    }
    this.peakRss = Math.max(this.peakRss, rss);
    this.cpuSeconds = [...this.#cpuByPid.values()].reduce((sum, value) => sum + value, 0);
  }
}

/** Sum of the sizes (st_size) of every regular file under `dir`: what a tool stores there. */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await directoryBytes(path);
    else if (entry.isFile()) total += (await fs.stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}
