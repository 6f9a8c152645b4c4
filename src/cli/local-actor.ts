import { userInfo } from 'node:os';
import type { AuditActor } from '../app/index.js';

/** The audit actor of a command run on this machine's shell: "local:<os user>" from "cli". */
export function localActor(): AuditActor {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry for the uid (containers): the number still names who it was.
    name = String(process.getuid?.() ?? 'unknown');
  }
  return { userName: `local:${name}`, source: 'cli' };
}
