import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { BovedaError, describeError, errorCodes, isBovedaError } from '../core/index.js';

/** Where a command writes: injectable so tests can run commands in process. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One compact JSON object on one line: the form of every event of a streaming command (--json). */
export function printJsonLine(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value) + '\n');
}

export function printLines(io: CliIo, lines: string[]): void {
  io.stdout.write(lines.join('\n') + '\n');
}

/** Prints an error (JSON on stderr with --json) and returns the exit code it maps to. */
export function reportError(io: CliIo, error: unknown, json: boolean): number {
  const coded = isBovedaError(error) ? error : new BovedaError('INTERNAL', describeError(error), { cause: error });
  if (json) {
    io.stderr.write(JSON.stringify({ error: { code: coded.code, message: coded.message } }) + '\n');
  } else {
    io.stderr.write(`boveda: ${coded.message} [${coded.code}]\n`);
    if (coded.code === 'INTERNAL' && error instanceof Error && error.stack && io.env.BOVEDA_DEBUG) io.stderr.write(error.stack + '\n');
  }
  return errorCodes[coded.code].exit;
}

/** Asks for a secret on the terminal without echoing it. */
export async function promptSecret(io: CliIo, question: string): Promise<string> {
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  io.stderr.write(question);
  const rl = createInterface({ input: io.stdin, output: muted, terminal: true });
  try {
    return await new Promise<string>((resolve) => rl.question('', resolve));
  } finally {
    rl.close();
    io.stderr.write('\n');
  }
}

export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    failure (the message names what failed)
  2    invalid arguments
  3    damage found (verify) or a damaged vault refused the operation
  4    busy: the vault or VM is locked by another live process or job, or too many attempts
  5    wrong or missing passphrase / key file
  6    the server (BOVEDA_SERVER) refused: no or bad token, wrong password, or the role does not allow it
  130  cancelled (Ctrl-C)`;
