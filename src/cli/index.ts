/**
 * cli: the `boveda` command. One file per command under commands/ (a definition and an action),
 * text or --json output, exit codes documented in --help (io.ts). Depends on app only.
 */
export { runCli, VERSION } from './program.js';
