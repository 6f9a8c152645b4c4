import type { BovedaError } from '../../../core/errors.js';

export interface Settler<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * A promise that settles once: through `start`'s settler, after `timeoutMs` (timeoutError), or
 * when `signal` aborts (abortError). `start` returns a cleanup that runs exactly once, whichever
 * way the promise settles, so timers, listeners and table entries never outlive it.
 */
export function settleWithin<T>(
  options: {
    timeoutMs: number;
    signal?: AbortSignal | undefined;
    timeoutError: () => BovedaError;
    abortError: () => BovedaError;
  },
  start: (settler: Settler<T>) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { signal } = options;
    if (signal?.aborted) {
      reject(options.abortError());
      return;
    }
    let done = false;
    let cleanup: (() => void) | undefined;
    const finish = (settle: () => void): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      cleanup?.();
      settle();
    };
    const onAbort = (): void => finish(() => reject(options.abortError()));
    const timer = setTimeout(() => finish(() => reject(options.timeoutError())), options.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    const release = start({
      resolve: (value) => finish(() => resolve(value)),
      reject: (error) => finish(() => reject(error)),
    });
    if (done) release();
    else cleanup = release;
  });
}
