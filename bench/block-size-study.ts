/**
 * Block size study (run by hand, several minutes): on the reference image from
 * bench/reference-image.ts (built on first use, about a minute), for each block size a full
 * backup, 1% churn → incremental, 5% churn → incremental, and a read-back; each block size in its
 * own process. Prints the tables as text and as markdown (for docs/block-size.md) and writes the
 * raw metrics as JSON.
 *
 *   node dist/bench/block-size-study.js [--quick] [--sizes 4K,16K,64K,256K,1M] [--image IMG] [--work DIR] [--json FILE] [--keep] [--wait-quiet S]
 *
 * --wait-quiet S: before each block size, wait up to S seconds for other processes to leave the CPUs idle.
 * --quick uses a 512 MiB image with 280 MB of files (a smoke run of the whole pipeline).
 * Scratch (image copies, vaults) goes under --work (default bench-work/study), removed at the end.
 */
import { availableParallelism } from 'node:os';
import * as fs from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHILD_FLAG, childMain } from './lib/child.js';
import { machineSummary, runSeries } from './lib/runner.js';
import type { BenchContext, Series } from './lib/series.js';
import { renderMarkdown, renderTable } from './lib/table.js';
import { allSeries } from './series/index.js';
import { blockSizeSeries } from './series/block-size.js';

async function main(argv: string[]): Promise<void> {
  const options: Record<string, string> = {};
  let quick = false;
  let work = 'bench-work/study';
  let json: string | undefined;
  let keep = false;
  let quietWait = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => argv[++i] ?? '';
    if (arg === '--quick') quick = true;
    else if (arg === '--sizes') options['block-size.sizes'] = value();
    else if (arg === '--image') options['block-size.image'] = value();
    else if (arg === '--work') work = value();
    else if (arg === '--json') json = value();
    else if (arg === '--keep') keep = true;
    else if (arg === '--wait-quiet') quietWait = Number(value());
    else throw new Error(`unknown argument ${arg}; usage: block-size-study.js [--quick] [--sizes 4K,16K,...] [--image IMG] [--work DIR] [--json FILE] [--keep]`);
  }
  await fs.mkdir(resolve(work), { recursive: true });
  const workDir = await fs.mkdtemp(join(resolve(work), 'run-'));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx: BenchContext = { profile: quick ? 'quick' : 'default', workDir, allThreads: availableParallelism(), options, log };
  const started = performance.now();
  let outcome: Awaited<ReturnType<typeof runSeries>>;
  try {
    outcome = await runSeries([blockSizeSeries as Series<never>], ctx, fileURLToPath(import.meta.url), { quietWaitSeconds: quietWait });
  } finally {
    if (!keep) await fs.rm(workDir, { recursive: true, force: true });
  }
  const elapsed = (performance.now() - started) / 1000;
  const head = [`Boveda block size study${quick ? ' (quick)' : ''}, ${new Date().toISOString()}`, ...machineSummary()];
  process.stdout.write([
    '', ...head, '',
    ...outcome.tables.flatMap((table) => [renderTable(table), '']),
    '--- markdown ---', '',
    ...outcome.tables.flatMap((table) => [`**${table.title}**`, '', renderMarkdown(table), '', ...(table.notes ?? []).map((note) => `${note}`), '']),
    `${outcome.results.length} block sizes${outcome.failed ? `, ${outcome.failed} FAILED` : ''} in ${elapsed.toFixed(0)} s`,
    '',
  ].join('\n'));
  const jsonPath = json ?? join(resolve(work), `block-size-${quick ? 'quick-' : ''}${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await fs.writeFile(jsonPath, `${JSON.stringify({ machine: head, elapsedSeconds: elapsed, results: outcome.results }, null, 2)}\n`);
  log(`raw results: ${jsonPath}`);
  if (outcome.failed) process.exitCode = 1;
}

if (process.argv.includes(CHILD_FLAG)) {
  await childMain(allSeries);
} else {
  await main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`block size study failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
