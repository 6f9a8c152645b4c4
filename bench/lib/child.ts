import { fork } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { MemorySampler } from './memory.js';
import type { BenchCase, BenchContext, CaseResult, Metrics, Series } from './series.js';

/** What the parent hands a child: the case, and the context minus its functions. */
interface ChildRequest {
  series: string;
  case: BenchCase<unknown>;
  context: Omit<BenchContext, 'log'>;
}

type ChildReply = { ok: true; metrics: Metrics; memory: CaseResult<unknown>['memory'] } | { ok: false; error: string; memory: CaseResult<unknown>['memory'] };

export const CHILD_FLAG = '--child-case';

/** Runs one case of a series in a fresh Node process (this same script with CHILD_FLAG). */
export async function runCaseInChild<P>(script: string, series: Series<P>, benchCase: BenchCase<P>, ctx: BenchContext): Promise<CaseResult<P>> {
  const request: ChildRequest = { series: series.name, case: benchCase, context: { profile: ctx.profile, workDir: ctx.workDir, allThreads: ctx.allThreads, options: ctx.options, quietWaitSeconds: ctx.quietWaitSeconds } };
  const started = performance.now();
  // --expose-gc lets a case measure what stays allocated after a collection (settledMemory()).
  const child = fork(script, [CHILD_FLAG], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json', execArgv: [...process.execArgv, '--expose-gc'] });
  let reply: ChildReply | undefined;
  child.on('message', (message: ChildReply) => {
    reply = message;
  });
  child.send(request);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (exitCode, signal) => resolve(signal ? -1 : exitCode));
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const base = { series: series.name, id: benchCase.id, label: benchCase.label, params: benchCase.params, wallSeconds };
  if (!reply) return { ...base, ok: false, error: `bench process exited with code ${code} before reporting`, metrics: {} };
  if (!reply.ok) return { ...base, ok: false, error: reply.error, metrics: {}, memory: reply.memory };
  return { ...base, ok: true, metrics: reply.metrics, memory: reply.memory };
}

/** The child side: waits for the request, runs the case with memory sampling, replies, exits. */
export async function childMain(registry: ReadonlyArray<Series<never>>): Promise<void> {
  const request = await new Promise<ChildRequest>((resolve) => process.once('message', (message) => resolve(message as ChildRequest)));
  const series = registry.find((candidate) => candidate.name === request.series) as Series<unknown> | undefined;
  const memory = new MemorySampler();
  const caseDir = join(request.context.workDir, `case-${process.pid}`);
  let reply: ChildReply;
  memory.start();
  try {
    if (!series) throw new Error(`no bench series "${request.series}"`);
    await fs.mkdir(caseDir, { recursive: true });
    const metrics = await series.run(request.case.params, {
      ...request.context,
      caseDir,
      memory,
      log: (line) => process.stderr.write(`    ${line}\n`),
    });
    reply = { ok: true, metrics, memory: memory.stop() };
  } catch (error) {
    reply = { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error), memory: memory.stop() };
  } finally {
    await fs.rm(caseDir, { recursive: true, force: true });
  }
  await new Promise<void>((resolve) => process.send!(reply, () => resolve()));
  process.exit(0);
}
