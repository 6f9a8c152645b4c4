import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, hostname, release, totalmem } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCaseInChild } from './child.js';
import type { BenchContext, CaseResult, Series } from './series.js';
import type { Table } from './table.js';
import { size } from './units.js';

/** Prepares each series, runs its cases one after another (each in a fresh child of `script`), and collects tables. */
export async function runSeries(
  selected: ReadonlyArray<Series<never>>, ctx: BenchContext, script: string, options: { quietWaitSeconds?: number } = {},
): Promise<{ tables: Table[]; results: Array<CaseResult<unknown>>; failed: number }> {
  const tables: Table[] = [];
  const results: Array<CaseResult<unknown>> = [];
  let failed = 0;
  for (const series of selected) {
    ctx.log(`series ${series.name}: ${series.description}`);
    await series.prepare?.(ctx);
    const cases = series.cases(ctx);
    const seriesResults: Array<CaseResult<never>> = [];
    for (const [i, benchCase] of cases.entries()) {
      ctx.log(`  [${i + 1}/${cases.length}] ${benchCase.label}`);
      if (options.quietWaitSeconds) await waitForQuiet(ctx, options.quietWaitSeconds);
      const result = await runCaseInChild(script, series, benchCase, ctx);
      ctx.log(result.ok ? `    done in ${result.wallSeconds.toFixed(1)} s` : `    FAILED: ${result.error}`);
      if (!result.ok) failed++;
      seriesResults.push(result);
    }
    results.push(...seriesResults);
    tables.push(...series.report(seriesResults, ctx));
  }
  return { tables, results, failed };
}

/** Machine, Node and source revision, for the head of every report. */
export function machineSummary(): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `machine: ${hostname()}, ${cpu}, ${availableParallelism()} cores, ${size(totalmem())} RAM, Linux ${release()}`,
    `node ${process.version}, source ${sourceRevision()}`,
  ];
}

/** The commit the build came from, "+changes" when src/ differs from it (read-only git calls). */
export function sourceRevision(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${commit}+changes in src/` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Busy CPU seconds of the whole machine since boot (all cores). */
function machineBusySeconds(): number {
  let ms = 0;
  for (const cpu of cpus()) ms += cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq;
  return ms / 1000;
}

/**
 * On a shared machine: waits (up to `maxSeconds`) until other processes use less than
 * `maxCores` over a 3-second window, so timings are not measured against someone else's build.
 */
export async function waitForQuiet(ctx: BenchContext, maxSeconds: number, maxCores = 0.15): Promise<void> {
  const deadline = performance.now() + maxSeconds * 1000;
  let said = false;
  while (true) {
    const busy = machineBusySeconds();
    const own = process.cpuUsage();
    await sleep(3000);
    const used = process.cpuUsage(own);
    const others = (machineBusySeconds() - busy - (used.user + used.system) / 1e6) / 3;
    if (others < maxCores) {
      if (said) ctx.log(`    machine quiet (${others.toFixed(2)} cores of other work), going on`);
      return;
    }
    if (performance.now() > deadline) {
      ctx.log(`    machine still busy (${others.toFixed(2)} cores of other work) after ${maxSeconds} s: measuring anyway`);
      return;
    }
    if (!said) ctx.log(`    waiting for other work to stop (${others.toFixed(2)} cores busy) …`);
    said = true;
  }
}
