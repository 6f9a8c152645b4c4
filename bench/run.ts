/**
 * Boveda benchmarks. `npm run bench` builds and runs every default series; each case runs in a
 * fresh child process (clean peak-memory figures, its own worker pool) on a scratch vault under
 * the work directory, which is removed at the end.
 *
 *   node dist/bench/run.js [--quick] [--series a,b] [--set key=value ...] [--work DIR] [--json FILE] [--keep] [--list] [--wait-quiet S]
 *
 * --quick     small sizes: a smoke run of well under 30 s
 * --series    run only these series (see --list), including ones not run by default
 * --set       series options, e.g. --set throughput.bytes=2G --set memory.sizes=512M,2G,8G
 * --work      where scratch vaults go (default: a new directory under the system temp dir)
 * --json      also write every case's raw metrics and memory samples to FILE
 * --keep      keep the work directory
 * --wait-quiet S  before each case (and each timed step of vs-tools), wait up to S seconds for other processes to leave the CPUs idle
 */
import { availableParallelism, tmpdir } from 'node:os';
import * as fs from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHILD_FLAG, childMain } from './lib/child.js';
import { machineSummary, runSeries } from './lib/runner.js';
import type { BenchContext, Profile } from './lib/series.js';
import { renderTable } from './lib/table.js';
import { allSeries } from './series/index.js';

interface Args {
  profile: Profile;
  series: string[] | undefined;
  options: Record<string, string>;
  work: string | undefined;
  json: string | undefined;
  keep: boolean;
  list: boolean;
  quietWait: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { profile: 'default', series: undefined, options: {}, work: undefined, json: undefined, keep: false, list: false, quietWait: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') args.profile = 'quick';
    else if (arg === '--series') args.series = value().split(',').filter(Boolean);
    else if (arg === '--set') {
      const [key, ...rest] = value().split('=');
      if (!key || rest.length === 0) throw new Error('--set takes key=value');
      args.options[key] = rest.join('=');
    } else if (arg === '--work') args.work = value();
    else if (arg === '--json') args.json = value();
    else if (arg === '--keep') args.keep = true;
    else if (arg === '--wait-quiet') args.quietWait = Number(value());
    else if (arg === '--list') args.list = true;
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`usage: node dist/bench/run.js [--quick] [--series a,b] [--set key=value] [--work DIR] [--json FILE] [--keep] [--list] [--wait-quiet SECONDS]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg} (see --help)`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const series of allSeries) process.stdout.write(`${series.name.padEnd(14)} ${series.byDefault ? '(default)' : '         '} ${series.description}\n`);
    return;
  }
  const selected = args.series
    ? args.series.map((name) => {
      const found = allSeries.find((series) => series.name === name);
      if (!found) throw new Error(`no series "${name}" (have: ${allSeries.map((series) => series.name).join(', ')})`);
      return found;
    })
    : allSeries.filter((series) => series.byDefault);

  const parent = args.work ? resolve(args.work) : tmpdir();
  await fs.mkdir(parent, { recursive: true });
  const workDir = await fs.mkdtemp(join(parent, 'boveda-bench-'));
  const cleanup = () => (args.keep ? Promise.resolve() : fs.rm(workDir, { recursive: true, force: true }));
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx: BenchContext = { profile: args.profile, workDir, allThreads: availableParallelism(), options: args.options, quietWaitSeconds: args.quietWait, log };

  const started = performance.now();
  log(`bench (${args.profile}) in ${workDir}`);
  let outcome: Awaited<ReturnType<typeof runSeries>>;
  try {
    outcome = await runSeries(selected, ctx, fileURLToPath(import.meta.url), { quietWaitSeconds: args.quietWait });
  } finally {
    await cleanup();
  }
  const { tables, results, failed } = outcome;
  const elapsed = (performance.now() - started) / 1000;
  const out = [
    '',
    `Boveda bench (${args.profile}), ${new Date().toISOString()}`,
    ...machineSummary(),
    `scratch vaults under ${parent} (LocalStore: every pack, index file and manifest fsynced)`,
    '',
    ...tables.flatMap((table) => [renderTable(table), '']),
    `${results.length} cases${failed ? `, ${failed} FAILED` : ''} in ${elapsed.toFixed(0)} s`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  if (args.json) {
    await fs.writeFile(args.json, `${JSON.stringify({ profile: args.profile, machine: machineSummary(), elapsedSeconds: elapsed, results }, null, 2)}\n`);
  }
  if (failed) process.exitCode = 1;
}

if (process.argv.includes(CHILD_FLAG)) {
  await childMain(allSeries);
} else {
  await main().catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
