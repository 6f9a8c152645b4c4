import { BovedaError } from '../core/errors.js';

/** Throws ABORTED when the signal fired; call before every side effect of a long operation. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'operation'): void {
  if (signal?.aborted) {
    throw new BovedaError('ABORTED', `${what} was cancelled`, { cause: signal.reason });
  }
}
