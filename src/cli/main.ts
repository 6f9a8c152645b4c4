#!/usr/bin/env node
import { runCli } from './program.js';

// Ctrl-C (or SIGTERM, as service managers send) cancels the running operation cleanly (locks
// released, partial files removed, running jobs recorded as cancelled); a second one exits at once.
const controller = new AbortController();
for (const name of ['SIGINT', 'SIGTERM'] as const) {
  process.once(name, () => {
    controller.abort(new Error('interrupted'));
    process.once(name, () => process.exit(130));
  });
}

// A reader that goes away (`boveda points | head`) must not crash a running backup: output is
// dropped, the work finishes and releases its locks.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2), undefined, controller.signal);
