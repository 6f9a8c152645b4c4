import { spawn } from 'node:child_process';

export interface ScriptResult {
  ok: boolean;
  /** Why it failed ("exit 3", "timed out after 300 s", "could not start: …"), with its last output. */
  problem: string | null;
}

const OUTPUT_TAIL = 400;

/**
 * Runs a user's pre/post script through /bin/sh with a timeout. A failure is a result, not an
 * exception: a failing pre-script lowers the point's consistency, it does not abort the backup.
 * On timeout the whole process group is killed, so a hung script leaves nothing behind.
 */
export async function runScript(command: string, options: { timeoutSeconds: number; env: Record<string, string>; signal?: AbortSignal }): Promise<ScriptResult> {
  return new Promise<ScriptResult>((resolve) => {
    let output = '';
    let settled = false;
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const finish = (result: ScriptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const tail = () => (output.trim() ? `: ${output.trim().split('\n').slice(-3).join(' / ')}` : '');
    const timer = setTimeout(() => {
      killGroup();
      finish({ ok: false, problem: `timed out after ${options.timeoutSeconds} s${tail()}` });
    }, options.timeoutSeconds * 1000);
    const onAbort = () => {
      killGroup();
      finish({ ok: false, problem: 'cancelled' });
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => finish({ ok: false, problem: `could not start: ${error.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) finish({ ok: true, problem: null });
      else finish({ ok: false, problem: `${signal ? `killed by ${signal}` : `exit ${code}`}${tail()}` });
    });
  });
}
