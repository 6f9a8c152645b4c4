#!/usr/bin/env node
import { runCli } from './program.js';

// Ctrl-C cancels the running operation cleanly (locks released, partial files removed);
// a second Ctrl-C exits at once.
const controller = new AbortController();
process.once('SIGINT', () => {
  controller.abort(new Error('interrupted'));
  process.once('SIGINT', () => process.exit(130));
});

// A reader that goes away (`boveda points | head`) must not crash a running backup: output is
// dropped, the work finishes and releases its locks.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2), undefined, controller.signal);
