import type { MemoryReport, MemorySampler } from './memory.js';
import type { Table } from './table.js';

/**
 * A bench series: a named set of cases and how to report them. run.ts prepares the series once
 * (in its own process), then runs every case in a fresh child process — so each case's peak
 * memory (maxRSS never goes down) and worker pool are its own — and finally turns the results
 * into tables. To add a series: implement this interface in bench/series/<name>.ts and list it in
 * bench/series/index.ts.
 */
export type Profile = 'quick' | 'default';

export interface BenchContext {
  profile: Profile;
  /** Scratch directory of this run (deleted at the end unless --keep). */
  workDir: string;
  /** Worker threads "all cores" means here (os.availableParallelism()). */
  allThreads: number;
  /** Series-specific options from the command line (--set key=value). */
  options: Record<string, string>;
  /** --wait-quiet: how long a case may wait for other work to stop before a timed step (0: never waits). */
  quietWaitSeconds?: number;
  /** Progress lines (stderr), not part of the report. */
  log(line: string): void;
}

export interface CaseContext extends BenchContext {
  /** Marks phases ("put", "get", ...) so peak RSS is reported per phase. */
  memory: MemorySampler;
  /** A fresh directory for this case, removed after it. */
  caseDir: string;
}

export type Metrics = Record<string, number | string | boolean>;

export interface BenchCase<P> {
  /** Unique within the series, stable across runs (used in JSON output). */
  id: string;
  /** Short human label for progress lines. */
  label: string;
  params: P;
}

export interface CaseResult<P> {
  series: string;
  id: string;
  label: string;
  params: P;
  ok: boolean;
  error?: string;
  metrics: Metrics;
  memory?: MemoryReport;
  wallSeconds: number;
}

export interface Series<P = unknown> {
  name: string;
  description: string;
  /** Whether `npm run bench` runs it without --series. */
  byDefault: boolean;
  /** Once per run, in the parent process, before any case (build fixtures, check tools). */
  prepare?(ctx: BenchContext): Promise<void>;
  cases(ctx: BenchContext): Array<BenchCase<P>>;
  /** One case, in its own child process. Throwing marks the case failed; other cases still run. */
  run(params: P, ctx: CaseContext): Promise<Metrics>;
  report(results: Array<CaseResult<P>>, ctx: BenchContext): Table[];
}
