import { BovedaError, isBovedaError } from '../core/errors.js';

/** Throws ABORTED when the signal fired; call before every side effect of a long operation. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) {
    throw new BovedaError('ABORTED', `${what} was cancelled`, { cause: signal.reason });
  }
}

/**
 * Runs `task` for every item in parallel on a signal of its own: the first failure cancels the
 * others (as does `signal`), and every task is awaited before this returns or throws, so nothing
 * still runs after a failure is reported. Throws the first real failure, not the ABORTED errors
 * it caused in the others.
 */
export async function allOrCancel<T, R>(items: readonly T[], signal: AbortSignal | undefined, task: (item: T, index: number, signal: AbortSignal) => Promise<R>): Promise<R[]> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) stop.abort(signal.reason);
  try {
    const results = await Promise.allSettled(items.map(async (item, index) => {
      try {
        return await task(item, index, stop.signal);
      } catch (error) {
        stop.abort(error);
        throw error;
      }
    }));
    const failures = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => result.reason as unknown);
    if (failures.length > 0) throw failures.find((error) => !isBovedaError(error, 'ABORTED')) ?? failures[0];
    return results.map((result) => (result as PromiseFulfilledResult<R>).value);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}
