import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { BovedaError, describeError } from '../../../core/errors.js';
import { LineDecoder } from './line-decoder.js';

/** What a channel reports when it ends: the first reason wins. */
export type CloseListener = (reason: BovedaError) => void;

/**
 * A line-oriented byte stream to a QEMU endpoint: bounded line framing, idempotent close, and
 * one close reason (QEMU_UNREACHABLE when the peer went away, QEMU_PROTOCOL when it sent
 * something that cannot be framed). Protocol clients build on it; it knows no JSON.
 */
export class LineChannel {
  readonly label: string;
  readonly #stream: Duplex;
  readonly #decoder: LineDecoder;
  #closeReason: BovedaError | undefined;
  #onLine: (line: string) => void = () => undefined;
  #onMarker: () => void = () => undefined;
  readonly #closeListeners = new Set<CloseListener>();

  constructor(stream: Duplex, label: string, options: { maxLineBytes?: number; markers?: boolean } = {}) {
    this.label = label;
    this.#stream = stream;
    this.#decoder = new LineDecoder(label, options);
    stream.on('data', (chunk: Buffer | string) => this.#receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => this.fail(unreachable(`${label} closed the connection`)));
    stream.on('close', () => this.fail(unreachable(`${label} closed the connection`)));
    stream.on('error', (error: Error) =>
      this.fail(unreachable(`${label}: connection failed: ${describeError(error)}`, error)),
    );
  }

  /** Installs the handlers for lines and (guest agent) 0xFF markers. */
  handle(onLine: (line: string) => void, onMarker?: () => void): void {
    this.#onLine = onLine;
    if (onMarker !== undefined) this.#onMarker = onMarker;
  }

  onClose(listener: CloseListener): () => void {
    if (this.#closeReason !== undefined) {
      listener(this.#closeReason);
      return () => undefined;
    }
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  get closeReason(): BovedaError | undefined {
    return this.#closeReason;
  }

  /** Writes bytes; throws the close reason when the channel is closed. */
  write(data: string | Uint8Array): void {
    if (this.#closeReason !== undefined) throw this.#closeReason;
    this.#stream.write(data);
  }

  /** Ends the channel with `reason` (the first call wins; later ones do nothing). */
  fail(reason: BovedaError): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    this.#decoder.reset();
    this.#stream.destroy();
    for (const listener of [...this.#closeListeners]) listener(reason);
    this.#closeListeners.clear();
  }

  #receive(chunk: Buffer): void {
    if (this.#closeReason !== undefined) return;
    try {
      this.#decoder.push(
        chunk,
        (line) => {
          if (this.#closeReason === undefined) this.#onLine(line);
        },
        () => {
          if (this.#closeReason === undefined) this.#onMarker();
        },
      );
    } catch (error) {
      this.fail(
        error instanceof BovedaError
          ? error
          : new BovedaError('QEMU_PROTOCOL', `${this.label}: ${describeError(error)}`, { cause: error }),
      );
    }
  }
}

export function unreachable(message: string, cause?: unknown): BovedaError {
  return new BovedaError('QEMU_UNREACHABLE', message, cause === undefined ? {} : { cause });
}

/**
 * Connects to a unix socket. QEMU_UNREACHABLE (naming the path) when nobody listens or the path
 * is missing, QEMU_TIMEOUT after `timeoutMs`, ABORTED through the signal; nothing is left open
 * on failure.
 */
export async function connectUnixSocket(
  path: string,
  what: string,
  options: { signal?: AbortSignal; timeoutMs: number },
): Promise<Socket> {
  if (options.signal?.aborted) {
    throw new BovedaError('ABORTED', `connecting to ${what} at ${path} was cancelled`, { cause: options.signal.reason });
  }
  return await new Promise<Socket>((resolve, reject) => {
    const socket = connect({ path });
    const finish = (error: BovedaError | undefined): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('connect', onConnect);
      if (error === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(error);
      }
    };
    const onConnect = (): void => finish(undefined);
    const onError = (error: NodeJS.ErrnoException): void =>
      finish(
        unreachable(`cannot connect to ${what} at ${path}: ${error.code ?? describeError(error)}`, error),
      );
    const onAbort = (): void =>
      finish(new BovedaError('ABORTED', `connecting to ${what} at ${path} was cancelled`, { cause: options.signal?.reason }));
    const timer = setTimeout(
      () => finish(new BovedaError('QEMU_TIMEOUT', `connecting to ${what} at ${path} took longer than ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    socket.once('connect', onConnect);
    socket.once('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Validates a timeout option (a positive finite number of milliseconds). */
export function checkTimeout(value: number | undefined, fallback: number, what: string): number {
  const timeout = value ?? fallback;
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new BovedaError('INVALID_ARGUMENT', `${what}: timeoutMs must be a positive number of milliseconds (got ${String(value)})`);
  }
  return Math.min(timeout, 2_147_483_647);
}
