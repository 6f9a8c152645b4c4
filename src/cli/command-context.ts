import type { CliIo } from './io.js';

/** What every command's action receives besides its options. */
export interface CommandContext {
  io: CliIo;
  /** Fires on Ctrl-C; long operations pass it down. */
  signal: AbortSignal;
  /** The command's exit status when it ends without an exception (e.g. 3 when verify found damage). */
  setExitCode(code: number): void;
}
