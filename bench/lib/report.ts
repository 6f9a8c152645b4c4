import type { CaseResult } from './series.js';

/** Above this many cores of other work during a phase, its numbers are flagged as disturbed. */
export const DISTURBED_CORES = 0.25;

/** Highest CPU use by other processes (cores) during the given phases of a case. */
export function otherCores(result: CaseResult<unknown>, phases: readonly string[]): number {
  return Math.max(0, ...phases.map((phase) => result.memory?.phases[phase]?.otherCores ?? 0));
}

/** "0.03", or "0.61 !" when the machine was busy with other work. */
export function othersCell(result: CaseResult<unknown>, phases: readonly string[]): string {
  const cores = otherCores(result, phases);
  return cores > DISTURBED_CORES ? `${cores.toFixed(2)} !` : cores.toFixed(2);
}

/** Notes for failed cases and disturbed measurements, to go under a table. */
export function caseNotes(results: ReadonlyArray<CaseResult<unknown>>, phases: readonly string[]): string[] {
  const notes: string[] = [];
  for (const result of results) {
    if (!result.ok) notes.push(`FAILED ${result.label}: ${(result.error ?? '').split('\n').slice(0, 2).join(' ')}`);
  }
  if (results.some((result) => result.ok && otherCores(result, phases) > DISTURBED_CORES)) {
    notes.push(`"!" in others: more than ${DISTURBED_CORES} cores of other work during the case; those figures are disturbed.`);
  }
  return notes;
}
