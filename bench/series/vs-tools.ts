import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_IMAGE_PATH, churn1Percent, churn5Percent, copySparse, ensureReferenceImage, run, sha256File, type ChurnResult } from '../reference-image.js';
import { capture, directoryBytes, measure, which, type Measured } from '../lib/external.js';
import { waitForQuiet } from '../lib/runner.js';
import type { BenchCase, BenchContext, CaseContext, CaseResult, Metrics, Series } from '../lib/series.js';
import type { Table } from '../lib/table.js';
import { seconds, size } from '../lib/units.js';
import { QUICK_IMAGE } from './block-size.js';

/**
 * Boveda against restic and borg on the reference image (bench/reference-image.ts), each tool
 * driven as a user would drive it, as a subprocess, in its own case process:
 *
 *   full backup → churn1Percent (1%, scattered 4 KiB random writes) → incremental backup →
 *   churn5Percent (5%, 1 MiB random extents) → incremental backup → restore of the last point,
 *
 * on its own sparse copy of the image (same path for every step, same seeded churn, so every tool
 * sees identical bytes). Before every backup: `sync`, then the image is read once (cat >
 * /dev/null), so every tool starts from the same warm page cache. Per step: wall seconds, bytes
 * stored in the repository/vault directory afterwards (sum of file sizes; caches and Boveda's
 * data dir are not counted, but reported), peak RSS and CPU of the tool's process (GNU time %M,
 * %U, %S; else /proc polling). The restored image's sha256 is compared with the image's at the
 * last backup.
 *
 *   Boveda:  node dist/src/cli/main.js vault init / vm add / backup / restore (BOVEDA_PASSPHRASE,
 *            default scrypt cost, default vault settings)
 *   restic:  restic init (repository v2, compression auto: the defaults); restic backup IMG;
 *            restic restore latest --target DIR. RESTIC_CACHE_DIR in the case's scratch.
 *   borg:    borg init --encryption repokey (repokey-blake2 on a CPU without SHA extensions: the
 *            faster of the two); borg create --compression zstd,3 REPO::NAME IMG (default
 *            chunker); borg extract --sparse in DIR. BORG_BASE_DIR / BORG_CACHE_DIR in scratch.
 *
 * A tool not on PATH (`which`) is skipped and the report says so. A failing command does not
 * abort the run: its error goes into the table and the tool's later steps are skipped.
 * Options: --set vs-tools.tools=boveda,restic,borg (also "stub": cp, to debug the harness),
 * --set vs-tools.image=PATH (an existing image instead of the reference one).
 */

export type ToolName = 'boveda' | 'restic' | 'borg' | 'stub';

const DEFAULT_TOOLS: ToolName[] = ['boveda', 'restic', 'borg'];
const KNOWN_TOOLS: ToolName[] = ['boveda', 'restic', 'borg', 'stub'];
const DISPLAY: Record<ToolName, string> = { boveda: 'Boveda', restic: 'restic', borg: 'borg', stub: 'stub (cp)' };

const BACKUPS = ['full', 'churn1', 'churn5'] as const;
type Backup = (typeof BACKUPS)[number];
const STEPS = [...BACKUPS, 'restore'] as const;
type Step = (typeof STEPS)[number];

const PASSPHRASE = 'boveda bench passphrase';
/** Issue 3: Boveda's peak memory must stay under this (decimal megabytes). */
const MEMORY_TARGET_BYTES = 500e6;
/** Above this many cores of other work during a step, its time is flagged as disturbed. */
const DISTURBED_CORES = 0.25;

export interface VsToolsParams {
  tool: ToolName;
  /** The tool's program: Boveda's CLI script, or the path `which` found. */
  program: string;
  image: string;
}

/** The Boveda CLI this build runs (dist/src/cli/main.js next to dist/bench/). */
export const BOVEDA_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Set in prepare() (parent process): tools found and tools skipped, with why. */
const found = new Map<ToolName, string>();
const skipped = new Map<ToolName, string>();
let imageInfo: { path: string; bytes: number; note: string } | undefined;

function imageOptions(ctx: { profile: string; options: Record<string, string> }) {
  return ctx.profile === 'quick' ? { ...QUICK_IMAGE, path: resolve(QUICK_IMAGE.path) } : { path: resolve(REFERENCE_IMAGE_PATH) };
}

function selectedTools(ctx: BenchContext): ToolName[] {
  const names = (ctx.options['vs-tools.tools'] ?? DEFAULT_TOOLS.join(',')).split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of names) {
    if (!KNOWN_TOOLS.includes(name as ToolName)) throw new Error(`vs-tools.tools: unknown tool "${name}" (have: ${KNOWN_TOOLS.join(', ')})`);
  }
  return names as ToolName[];
}

export const vsToolsSeries: Series<VsToolsParams> = {
  name: 'vs-tools',
  description: 'Boveda vs restic vs borg on the reference image: full, +1% and +5% churn incrementals, restore',
  byDefault: true,

  async prepare(ctx) {
    if (ctx.options['vs-tools.image']) {
      const path = resolve(ctx.options['vs-tools.image']);
      imageInfo = { path, bytes: (await fs.stat(path)).size, note: path };
    } else {
      const info = await ensureReferenceImage({ ...imageOptions(ctx), log: ctx.log });
      imageInfo = { path: info.path, bytes: info.imageBytes, note: `${info.fileCount} files, ${size(info.dataBytes)} of /usr, sha256 ${info.sha256.slice(0, 12)}…` };
    }
    found.clear();
    skipped.clear();
    for (const tool of selectedTools(ctx)) {
      if (tool === 'boveda') {
        if (existsSync(BOVEDA_CLI)) found.set(tool, BOVEDA_CLI);
        else skipped.set(tool, `${BOVEDA_CLI} not built`);
      } else {
        const program = await which(tool === 'stub' ? 'cp' : tool);
        if (program) found.set(tool, program);
        else skipped.set(tool, `not installed (\`which ${tool}\` found nothing)`);
      }
    }
    for (const [tool, why] of skipped) ctx.log(`  ${DISPLAY[tool]}: ${why}, skipped`);
  },

  cases(ctx) {
    const image = imageInfo?.path ?? imageOptions(ctx).path;
    return [...found].map(([tool, program]): BenchCase<VsToolsParams> => ({
      id: tool,
      label: `${DISPLAY[tool]}: full, +1% churn incremental, +5% churn incremental, restore`,
      params: { tool, program, image },
    }));
  },

  run: runTool,

  report(results, ctx) {
    return vsToolsTables(results, ctx);
  },
};

// ---------------------------------------------------------------------------------------------
// One tool's series

interface Driver {
  /** The directory whose files are the backups (measured after every step). */
  repo: string;
  /** Caches and local state (reported, not counted as stored). */
  state: string;
  describe(): Promise<string>;
  init(): Promise<Measured[]>;
  backup(step: Backup): Promise<Measured>;
  restore(target: string): Promise<{ measured: Measured; file: string }>;
}

async function runTool(params: VsToolsParams, ctx: CaseContext): Promise<Metrics> {
  const disk = join(ctx.caseDir, 'disk.img');
  const metrics: Metrics = { tool: params.tool };
  ctx.memory.phase('copy');
  await copySparse(params.image, disk);
  metrics.imageBytes = (await fs.stat(disk)).size;
  const driver = makeDriver(params, ctx.caseDir, disk);
  await fs.mkdir(driver.state, { recursive: true });
  metrics.version = await driver.describe().catch((error: unknown) => `unknown (${firstLine(error)})`);

  const fail = (step: Step | 'init', error: unknown) => {
    metrics[`${step}.error`] = errorText(error);
    ctx.log(`${params.tool} ${step} FAILED: ${firstLine(error)}`);
  };
  try {
    ctx.memory.phase('init');
    const init = await driver.init();
    metrics['init.seconds'] = init.reduce((sum, m) => sum + m.seconds, 0);
  } catch (error) {
    fail('init', error);
    return metrics;
  }

  for (const step of BACKUPS) {
    let churn: ChurnResult | undefined;
    if (step === 'churn1') churn = await churn1Percent(disk);
    if (step === 'churn5') churn = await churn5Percent(disk);
    if (churn) metrics[`${step}.churnBytes`] = churn.bytesWritten;
    await settle(disk);
    if (ctx.quietWaitSeconds) await waitForQuiet({ ...ctx, log: (line) => ctx.log(line.trimStart()) }, ctx.quietWaitSeconds);
    ctx.memory.phase(step);
    try {
      record(metrics, step, await driver.backup(step));
    } catch (error) {
      fail(step, error);
      return metrics;
    }
    metrics[`${step}.storedBytes`] = await directoryBytes(driver.repo);
    ctx.log(`${params.tool} ${step}: ${seconds(Number(metrics[`${step}.seconds`]))} s, stored ${size(Number(metrics[`${step}.storedBytes`]))}`);
  }

  metrics.expectedSha256 = await sha256File(disk);
  const target = join(ctx.caseDir, 'restore');
  await fs.mkdir(target, { recursive: true });
  await settle();
  if (ctx.quietWaitSeconds) await waitForQuiet({ ...ctx, log: (line) => ctx.log(line.trimStart()) }, ctx.quietWaitSeconds);
  ctx.memory.phase('restore');
  try {
    const { measured, file } = await driver.restore(target);
    record(metrics, 'restore', measured);
    const stat = await fs.stat(file);
    metrics['restore.bytes'] = stat.size;
    metrics['restore.allocatedBytes'] = stat.blocks * 512;
    metrics['restore.sha256'] = await sha256File(file);
    metrics['restore.verified'] = metrics['restore.sha256'] === metrics.expectedSha256;
    ctx.log(`${params.tool} restore: ${seconds(measured.seconds)} s, sha256 ${metrics['restore.verified'] ? 'matches' : 'DIFFERS'}`);
  } catch (error) {
    fail('restore', error);
  } finally {
    await fs.rm(target, { recursive: true, force: true });
  }
  metrics.stateBytes = await directoryBytes(driver.state);
  return metrics;
}

function record(metrics: Metrics, step: Step, measured: Measured): void {
  metrics[`${step}.seconds`] = measured.seconds;
  metrics[`${step}.peakRss`] = measured.peakRss;
  metrics[`${step}.cpuSeconds`] = measured.cpuSeconds;
  metrics[`${step}.otherCores`] = measured.otherCores;
  metrics.memoryMethod = measured.memoryMethod;
}

/** The same starting point for every tool and step: nothing left to write back, and (for backups) the image in the page cache. */
async function settle(image?: string): Promise<void> {
  await run('sync', []);
  if (image) await run('cat', [image], { quiet: true });
}

function makeDriver(params: VsToolsParams, caseDir: string, disk: string): Driver {
  const repo = join(caseDir, 'repo');
  const state = join(caseDir, 'state');
  const baseEnv = (drop: RegExp): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([key]) => !drop.test(key)));

  if (params.tool === 'boveda') {
    const env = { ...baseEnv(/^BOVEDA_/), BOVEDA_PASSPHRASE: PASSPHRASE };
    const cli = (...args: string[]) => measure(process.execPath, [params.program, ...args], { env });
    const where = ['--data-dir', state, '--vault', repo];
    return {
      repo,
      state,
      describe: async () => `Boveda ${(await capture(process.execPath, [params.program, '--version'], { env })).trim()}, vault defaults`,
      init: async () => [await cli('vault', 'init', '--vault', repo), await cli('vm', 'add', 'ref', '--disk', disk, '--data-dir', state)],
      backup: () => cli('backup', 'ref', ...where),
      restore: async (target) => {
        const measured = await cli('restore', 'ref', '--to', target, ...where);
        const files = (await fs.readdir(target, { withFileTypes: true })).filter((entry) => entry.isFile());
        if (files.length !== 1) throw new Error(`boveda restore: expected one image in ${target}, found ${files.map((entry) => entry.name).join(', ') || 'none'}`);
        return { measured, file: join(target, files[0]!.name) };
      },
    };
  }

  if (params.tool === 'restic') {
    const env = { ...baseEnv(/^RESTIC_/), RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSPHRASE, RESTIC_CACHE_DIR: join(state, 'cache') };
    const restic = (...args: string[]) => measure(params.program, args, { env });
    return {
      repo,
      state,
      describe: async () => `${(await capture(params.program, ['version'], { env })).trim().split(' compiled')[0]} (repository v2, compression auto)`,
      init: async () => [await restic('init', '--repository-version', '2')],
      backup: () => restic('backup', disk),
      restore: async (target) => ({ measured: await restic('restore', 'latest', '--target', target), file: join(target, disk) }),
    };
  }

  if (params.tool === 'borg') {
    const env = { ...baseEnv(/^BORG_/), BORG_PASSPHRASE: PASSPHRASE, BORG_BASE_DIR: join(state, 'base'), BORG_CACHE_DIR: join(state, 'cache') };
    const borg = (args: string[], cwd?: string) => measure(params.program, args, { env, cwd });
    const encryption = borgEncryption();
    return {
      repo,
      state,
      describe: async () => `${(await capture(params.program, ['--version'], { env })).trim()} (${encryption}, zstd,3, default chunker)`,
      init: async () => [await borg(['init', '--encryption', encryption, repo])],
      backup: (step) => borg(['create', '--compression', 'zstd,3', `${repo}::${step}`, disk]),
      restore: async (target) => ({ measured: await borg(['extract', '--sparse', `${repo}::churn5`], target), file: join(target, disk.replace(/^\/+/, '')) }),
    };
  }

  // stub: full copies with cp, to exercise the harness without any backup tool.
  return {
    repo,
    state,
    describe: async () => 'stub: cp --sparse=always',
    init: async () => {
      await fs.mkdir(repo, { recursive: true });
      return [];
    },
    backup: (step) => measure(params.program, ['--sparse=always', disk, join(repo, `${step}.img`)]),
    restore: async (target) => ({ measured: await measure(params.program, ['--sparse=always', join(repo, 'churn5.img'), join(target, 'disk.img')]), file: join(target, 'disk.img') }),
  };
}

/** Borg's faster authenticated mode here: HMAC-SHA256 ("repokey") with SHA extensions, BLAKE2b without. */
function borgEncryption(): string {
  try {
    return /\bsha_ni\b/.test(readFileSync('/proc/cpuinfo', 'utf8')) ? 'repokey' : 'repokey-blake2';
  } catch {
    return 'repokey-blake2';
  }
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 2000);
}

function firstLine(error: unknown): string {
  return errorText(error).split('\n')[0]!.slice(0, 300);
}

// ---------------------------------------------------------------------------------------------
// Report

type Result = CaseResult<VsToolsParams>;

interface Column {
  tool: ToolName;
  result: Result | undefined;
  /** Why the tool has no numbers (not installed, case failed), or undefined. */
  missing: string | undefined;
}

const STEP_LABEL: Record<Step, string> = {
  full: 'full backup',
  churn1: '+1% churn (4 KiB scattered), incremental',
  churn5: '+5% churn (1 MiB extents), incremental',
  restore: 'restore of the last point',
};

/** The side-by-side table (rows = steps, a column per tool, Boveda's ratios) and the issue's targets. */
export function vsToolsTables(results: Result[], ctx?: BenchContext): Table[] {
  const tools = [...new Set<ToolName>([...(ctx ? selectedTools(ctx) : DEFAULT_TOOLS), ...results.map((r) => r.params.tool)])]
    .sort((a, b) => KNOWN_TOOLS.indexOf(a) - KNOWN_TOOLS.indexOf(b));
  const columns: Column[] = tools.map((tool) => {
    const result = results.find((r) => r.params.tool === tool);
    const missing = result ? (result.ok ? undefined : 'case failed') : skipped.has(tool) ? 'not installed' : 'not run';
    return { tool, result, missing };
  });
  const boveda = columns.find((c) => c.tool === 'boveda');
  const others = columns.filter((c) => c.tool !== 'boveda');

  const num = (c: Column | undefined, key: string): number | undefined => {
    if (!c?.result?.ok) return undefined;
    const value = c.result.metrics[key];
    return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  };
  /** The step's error, or "skipped" when an earlier step failed. */
  const problem = (c: Column, step: Step): string | undefined => {
    if (c.missing) return c.missing;
    const m = c.result!.metrics;
    const order: Array<Step | 'init'> = ['init', ...STEPS];
    for (const earlier of order.slice(0, order.indexOf(step))) if (m[`${earlier}.error`] !== undefined) return 'skipped';
    return m[`${step}.error`] !== undefined ? 'ERROR' : undefined;
  };
  const growth = (c: Column | undefined, step: 'churn1' | 'churn5') => {
    const after = num(c, `${step}.storedBytes`);
    const before = num(c, `${step === 'churn1' ? 'full' : 'churn1'}.storedBytes`);
    return after !== undefined && before !== undefined ? after - before : undefined;
  };
  const peak = (c: Column | undefined) => {
    const values = STEPS.map((step) => num(c, `${step}.peakRss`)).filter((v): v is number => v !== undefined);
    return values.length > 0 ? Math.max(...values) : undefined;
  };
  const disturbed = (c: Column | undefined, step: Step) => (num(c, `${step}.otherCores`) ?? 0) > DISTURBED_CORES;

  const timeRatio = (mine: number | undefined, theirs: number | undefined) => {
    if (mine === undefined || theirs === undefined || mine <= 0) return '-';
    const r = theirs / mine;
    return r >= 1 ? `${r.toFixed(1)}× faster` : `${(1 / r).toFixed(1)}× slower`;
  };
  const sizeRatio = (mine: number | undefined, theirs: number | undefined) =>
    mine === undefined || theirs === undefined || theirs <= 0 ? '-' : `${(mine / theirs).toFixed(mine / theirs < 0.1 ? 3 : 2)}×`;

  type Row = { label: string; cell: (c: Column) => string; ratio: (c: Column) => string };
  const timeRow = (step: Step): Row => ({
    label: STEP_LABEL[step],
    cell: (c) => problem(c, step) ?? `${seconds(num(c, `${step}.seconds`)!)} s${disturbed(c, step) ? ' !' : ''}`,
    ratio: (c) => timeRatio(num(boveda, `${step}.seconds`), num(c, `${step}.seconds`)),
  });
  const sizeRow = (label: string, step: Step, value: (c: Column | undefined) => number | undefined): Row => ({
    label,
    cell: (c) => problem(c, step) ?? (value(c) === undefined ? '-' : size(value(c)!)),
    ratio: (c) => sizeRatio(value(boveda), value(c)),
  });
  const rows: Row[] = [
    ...STEPS.map(timeRow),
    sizeRow('stored after full', 'full', (c) => num(c, 'full.storedBytes')),
    sizeRow('growth from +1% churn', 'churn1', (c) => growth(c, 'churn1')),
    sizeRow('growth from +5% churn', 'churn5', (c) => growth(c, 'churn5')),
    sizeRow('stored after the series', 'churn5', (c) => num(c, 'churn5.storedBytes')),
    {
      label: 'peak memory (highest step)',
      cell: (c) => c.missing ?? (peak(c) === undefined ? '-' : size(peak(c)!)),
      ratio: (c) => sizeRatio(peak(boveda), peak(c)),
    },
    {
      label: 'restored image sha256',
      cell: (c) => problem(c, 'restore') ?? (c.result!.metrics['restore.verified'] === true ? 'matches' : 'DIFFERS'),
      ratio: () => '',
    },
  ];
  const ratioColumns = boveda ? others : [];
  const imageBytes = results.map((r) => Number(r.metrics.imageBytes)).find((v) => v > 0) ?? imageInfo?.bytes ?? 0;
  const main: Table = {
    title: `Boveda vs restic vs borg — ${size(imageBytes)} image${imageInfo ? ` (${imageInfo.note})` : ''}`,
    columns: [
      { header: 'step', align: 'left' },
      ...columns.map((c) => ({ header: DISPLAY[c.tool] })),
      ...ratioColumns.map((c) => ({ header: `Boveda÷${DISPLAY[c.tool].split(' ')[0]}` })),
    ],
    rows: rows.map((row) => [row.label, ...columns.map(row.cell), ...ratioColumns.map(row.ratio)]),
    notes: notes(columns, num, imageBytes),
  };

  const restic = columns.find((c) => c.tool === 'restic');
  const borg = columns.find((c) => c.tool === 'borg');
  type Target = { label: string; measured: () => string | undefined; pass: () => boolean | undefined };
  const verdict = (pass: boolean | undefined) => (pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL');
  const faster = (step: Step, other: Column | undefined, otherName: ToolName, factor: number): Target => ({
    label: `${STEP_LABEL[step].replace(/, incremental$/, ' incremental')} ≥ ${factor}× faster than ${DISPLAY[otherName]}`,
    measured: () => {
      const mine = num(boveda, `${step}.seconds`);
      const theirs = num(other, `${step}.seconds`);
      return mine === undefined || theirs === undefined ? undefined : `${timeRatio(mine, theirs)} (${seconds(mine)} s vs ${seconds(theirs)} s)`;
    },
    pass: () => {
      const mine = num(boveda, `${step}.seconds`);
      const theirs = num(other, `${step}.seconds`);
      return mine === undefined || theirs === undefined ? undefined : theirs / mine >= factor;
    },
  });
  const storedVs = (label: string, mine: number | undefined, theirs: number | undefined, limit: number): Target => ({
    label,
    measured: () => (mine === undefined || theirs === undefined ? undefined : `${size(mine)} vs ${size(theirs)} (${sizeRatio(mine, theirs)})`),
    pass: () => (mine === undefined || theirs === undefined ? undefined : mine <= limit * theirs),
  });
  const targets: Target[] = [
    faster('full', borg, 'borg', 3),
    faster('churn1', restic, 'restic', 5),
    faster('churn5', restic, 'restic', 5),
    storedVs('growth from +1% churn ≤ 1/4 of restic\'s', growth(boveda, 'churn1'), growth(restic, 'churn1'), 0.25),
    storedVs('stored after the series ≤ 0.7× restic\'s', num(boveda, 'churn5.storedBytes'), num(restic, 'churn5.storedBytes'), 0.7),
    faster('restore', restic, 'restic', 3),
    {
      label: 'peak memory < 500 MB',
      measured: () => (peak(boveda) === undefined ? undefined : `${size(peak(boveda)!)} (${(peak(boveda)! / 1e6).toFixed(0)} MB)`),
      pass: () => (peak(boveda) === undefined ? undefined : peak(boveda)! < MEMORY_TARGET_BYTES),
    },
  ];
  const missingWhy = (t: Target) => {
    const involved: Array<[ToolName, Column | undefined]> = [['boveda', boveda]];
    if (t.label.includes('borg')) involved.push(['borg', borg]);
    else if (t.label.includes('restic')) involved.push(['restic', restic]);
    const gone = involved.flatMap(([tool, c]) => {
      if (!c) return [`${DISPLAY[tool]} not run`];
      if (c.missing !== undefined || !c.result?.ok || hasError(c)) return [`${DISPLAY[tool]} ${c.missing ?? 'failed'}`];
      return [];
    });
    return gone.length > 0 ? gone.join(', ') : 'not measured';
  };
  const targetTable: Table = {
    title: 'Issue 3 targets (Boveda)',
    columns: [{ header: 'target', align: 'left' }, { header: 'measured', align: 'left' }, { header: 'result', align: 'left' }],
    rows: targets.map((t) => [t.label, t.measured() ?? missingWhy(t), verdict(t.pass())]),
  };
  return [main, targetTable];
}

function hasError(c: Column): boolean {
  return Object.keys(c.result?.metrics ?? {}).some((key) => key.endsWith('.error'));
}

function notes(columns: Column[], num: (c: Column | undefined, key: string) => number | undefined, imageBytes: number): string[] {
  const out: string[] = [];
  const ran = columns.filter((c) => c.result?.ok);
  for (const c of ran) out.push(`${DISPLAY[c.tool]}: ${String(c.result!.metrics.version)}`);
  for (const c of columns) {
    if (c.missing === 'not installed') out.push(`${DISPLAY[c.tool]}: ${skipped.get(c.tool) ?? 'not installed'}, skipped.`);
    if (c.result && !c.result.ok) out.push(`${DISPLAY[c.tool]}: case FAILED: ${(c.result.error ?? '').split('\n').slice(0, 3).join(' ')}`);
    for (const step of ['init', ...STEPS]) {
      const error = c.result?.metrics[`${step}.error`];
      if (error !== undefined) out.push(`${DISPLAY[c.tool]} ${step} ERROR: ${String(error).split('\n').slice(0, 4).join(' | ').slice(0, 600)}`);
    }
  }
  const expected = ran.map((c) => c.result!.metrics.expectedSha256).find((v) => typeof v === 'string');
  if (expected) {
    const verdicts = ran.map((c) => {
      const got = c.result!.metrics['restore.sha256'];
      return `${DISPLAY[c.tool]} ${got === undefined ? 'not restored' : got === expected ? 'same' : `DIFFERENT (${String(got).slice(0, 16)}…)`}`;
    });
    out.push(`sha256 of the image at the last backup ${expected}; restored: ${verdicts.join(', ')}.`);
  }
  const perStep = (key: string, format: (value: number, c: Column, step: Step) => string) =>
    ran.map((c) => `${DISPLAY[c.tool]} ${STEPS.map((step) => {
      const value = num(c, `${step}.${key}`);
      return value === undefined ? '-' : format(value, c, step);
    }).join(' / ')}`).join('; ');
  if (ran.length > 0) {
    out.push(`CPU cores used (full / +1% / +5% / restore): ${perStep('cpuSeconds', (cpu, c, step) => (cpu / num(c, `${step}.seconds`)!).toFixed(2))}.`);
    out.push(`Peak memory per step: ${perStep('peakRss', (bytes) => size(bytes))}.`);
    out.push(`Backup speed (image bytes ÷ wall time, full / +1% / +5%): ${ran.map((c) => `${DISPLAY[c.tool]} ${BACKUPS.map((step) => {
      const s = num(c, `${step}.seconds`);
      return s === undefined ? '-' : `${(imageBytes / 1e6 / s).toFixed(0)} MB/s`;
    }).join(' / ')}`).join('; ')}.`);
    const state = ran.map((c) => `${DISPLAY[c.tool]} ${size(num(c, 'stateBytes') ?? 0)}`).join(', ');
    out.push(`Stored = sum of file sizes in the repository / vault directory. Not counted: caches and local state (${state}).`);
  }
  const churn1 = ran.map((c) => num(c, 'churn1.churnBytes')).find((v) => v !== undefined);
  const churn5 = ran.map((c) => num(c, 'churn5.churnBytes')).find((v) => v !== undefined);
  if (churn1 && churn5) out.push(`Churn written: +1% = ${size(churn1)} as ${churn1 / 4096} scattered 4 KiB writes, +5% = ${size(churn5)} as ${churn5 / 1048576} × 1 MiB (seeded, identical for every tool).`);
  out.push('Before each backup: sync, then the image read once (cat > /dev/null), the same warm page cache for every tool; a sync before the restore too.'
    + ' Times are wall clock of the command (GNU time for memory and CPU), without a sync of what it wrote afterwards.');
  out.push('Restore: Boveda `restore --to` and borg `extract --sparse` leave holes for zero blocks; restic 0.14 has no sparse restore and writes them.');
  const flagged = ran.flatMap((c) => STEPS.flatMap((step) => {
    const cores = num(c, `${step}.otherCores`) ?? 0;
    return cores > DISTURBED_CORES ? [`${DISPLAY[c.tool]} ${step} ${cores.toFixed(2)}`] : [];
  }));
  if (flagged.length > 0) {
    out.push(`"!": more than ${DISTURBED_CORES} cores of other work on the machine during that step, so its time is disturbed (${flagged.join(', ')}); --wait-quiet S waits for a quiet machine before each step.`);
  }
  return out;
}
