/**
 * Running `boveda` as a user does, for the end-to-end CLI tests: real processes, a private data
 * directory (catalog + default vault) per harness, fast scrypt, and the caller's BOVEDA_* settings
 * kept out.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const bin = join(process.cwd(), 'dist/src/cli/main.js');
export const PASSPHRASE = 'correct horse';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  done: Promise<Run>;
  stdout(): string;
  stderr(): string;
}

export class CliHarness {
  readonly data: string;

  constructor(data: string) {
    this.data = data;
  }

  env(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env, BOVEDA_SCRYPT_N: '1024', BOVEDA_PASSPHRASE: PASSPHRASE, BOVEDA_DATA: this.data,
      BOVEDA_VAULT: undefined, BOVEDA_DEBUG: undefined, XDG_DATA_HOME: undefined, ...extra,
    };
  }

  /** Runs `boveda` to completion. */
  run(args: string[], extra: Record<string, string | undefined> = {}): Run {
    const result = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: this.env(extra), timeout: 120_000 });
    return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
  }

  /** Runs it and asserts exit 0. */
  ok(args: string[], extra: Record<string, string | undefined> = {}): Run {
    return ok(this.run(args, extra));
  }

  /** Runs it with --json, asserts exit 0 and parses stdout. */
  json<T = unknown>(args: string[], extra: Record<string, string | undefined> = {}): T {
    const run = this.ok([...args, '--json'], extra);
    try {
      return JSON.parse(run.stdout) as T;
    } catch {
      return assert.fail(`not JSON: ${run.stdout}`);
    }
  }

  /** Starts `boveda` in the background. */
  start(args: string[], extra: Record<string, string | undefined> = {}): Started {
    const child = spawn(process.execPath, [bin, ...args], { env: this.env(extra), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
    return { child, done, stdout: () => stdout, stderr: () => stderr };
  }
}

export function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code} (${run.signal ?? 'no signal'}): ${run.stdout}${run.stderr}`);
  return run;
}

/** Asserts a failed --json run: exit status, error code and message of the JSON error on stderr. */
export function failed(run: Run, exit: number, code: string, message: RegExp): void {
  assert.equal(run.code, exit, `expected exit ${exit}, got ${run.code}: ${run.stdout}${run.stderr}`);
  const error = (JSON.parse(run.stderr.trim().split('\n').at(-1)!) as { error: { code: string; message: string } }).error;
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
}
