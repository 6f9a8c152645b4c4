import { hostname } from 'node:os';

/**
 * Who runs a job: "pid@host" of the process. Stored with the job so that another process can tell
 * a job whose process died (failOrphans) from one still running.
 */
export function currentJobOwner(): string {
  return `${process.pid}@${hostname()}`;
}

/** The pid and host of an owner string, or null when it is not "pid@host". */
export function parseJobOwner(owner: string): { pid: number; host: string } | null {
  const match = /^(\d+)@(.+)$/.exec(owner);
  if (!match) return null;
  const pid = Number(match[1]);
  return Number.isSafeInteger(pid) && pid > 0 ? { pid, host: match[2]! } : null;
}

/**
 * False only when the owner is a process of THIS host that no longer exists. An owner on another
 * host, or one that cannot be parsed, counts as alive: only its heartbeat can tell (failOrphans).
 * A reused pid makes a dead owner look alive; the heartbeat catches that too.
 */
export function isJobOwnerAlive(owner: string): boolean {
  const parsed = parseJobOwner(owner);
  if (!parsed || parsed.host !== hostname()) return true;
  try {
    process.kill(parsed.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
