import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { BovedaError } from '../../../core/errors.js';
import { checkTimeout, connectUnixSocket, LineChannel } from './channel.js';
import { errorBody, excerpt, isJsonObject, parseMessage, type JsonObject } from './json-message.js';
import { settleWithin, type Settler } from './settle.js';

export const defaultGuestAgentTimeoutMs = 5_000;
const defaultPollMs = 100;

export interface GuestAgentConnectOptions {
  /** Default timeout of each call, sync included (default 5 s); also bounds the connect. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Longest accepted line (default 16 MiB). */
  maxLineBytes?: number;
}

export interface GuestAgentOpenOptions extends GuestAgentConnectOptions {
  label?: string;
}

export interface GuestCallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** guest-info. */
export interface GuestAgentInfo {
  version: string;
  supported_commands: { name: string; enabled: boolean; 'success-response': boolean }[];
}

export type GuestFsfreezeStatus = 'thawed' | 'frozen';

/** guest-exec-status, as QEMU sends it (output base64-encoded). */
export interface GuestExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
  'out-truncated'?: boolean;
  'err-truncated'?: boolean;
}

export interface GuestExecOptions extends GuestCallOptions {
  /** Capture stdout and stderr (returned by guest-exec-status, base64). */
  captureOutput?: boolean;
  /** Environment ("NAME=value") for the program. */
  env?: string[];
  /** Bytes for the program's stdin. */
  input?: Uint8Array;
}

/** A program that ran to its end in the guest. */
export interface GuestRunResult {
  pid: number;
  /** Exit status; undefined when a signal ended it. */
  exitCode: number | undefined;
  signal: number | undefined;
  stdout: Buffer;
  stderr: Buffer;
  /** The agent cut the captured output (qemu-ga keeps at most 16 MiB per stream). */
  outputTruncated: boolean;
}

export interface GuestRunOptions {
  /** Bound on the program's whole run (default 60 s). */
  timeoutMs?: number;
  /** Bound on each agent call (the client's default). */
  callTimeoutMs?: number;
  /** Pause between guest-exec-status polls (default 100 ms). */
  pollMs?: number;
  signal?: AbortSignal;
  env?: string[];
  input?: Uint8Array;
}

type Expectation =
  | { kind: 'sync'; id: number; settler: Settler<void> }
  | { kind: 'reply'; id: string; command: string; settler: Settler<unknown> };

/**
 * A client for the QEMU guest agent (qemu-ga) over its virtio-serial chardev socket or a unix
 * socket qemu-ga listens on (see index.ts for the rules it keeps).
 */
export class GuestAgentClient {
  readonly label: string;
  readonly #channel: LineChannel;
  readonly #timeoutMs: number;
  #synced = false;
  #expect: Expectation | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #nextId = 0;

  private constructor(stream: Duplex, label: string, options: GuestAgentConnectOptions) {
    this.label = label;
    this.#timeoutMs = checkTimeout(options.timeoutMs, defaultGuestAgentTimeoutMs, label);
    this.#channel = new LineChannel(stream, label, { maxLineBytes: options.maxLineBytes, markers: true });
    this.#channel.handle(
      (line) => this.#receive(line),
      () => undefined,
    );
    this.#channel.onClose((reason) => {
      const expect = this.#expect;
      this.#expect = undefined;
      if (expect === undefined) return;
      const what = expect.kind === 'sync' ? 'guest-sync-delimited' : expect.command;
      expect.settler.reject(new BovedaError(reason.code, `${what}: ${reason.message}`, { cause: reason, details: { command: what } }));
    });
  }

  /**
   * Connects to the agent's socket. No data is exchanged yet (the agent has no greeting): the
   * first call synchronises. QEMU_UNREACHABLE when nobody listens (names the path).
   */
  static async connect(socketPath: string, options: GuestAgentConnectOptions = {}): Promise<GuestAgentClient> {
    const timeoutMs = checkTimeout(options.timeoutMs, defaultGuestAgentTimeoutMs, `guest agent ${socketPath}`);
    const socket = await connectUnixSocket(socketPath, 'the guest agent', { signal: options.signal, timeoutMs });
    return GuestAgentClient.open(socket, { ...options, label: `guest agent ${socketPath}` });
  }

  /** Wraps an already connected stream. */
  static open(stream: Duplex, options: GuestAgentOpenOptions = {}): GuestAgentClient {
    try {
      return new GuestAgentClient(stream, options.label ?? 'guest agent', options);
    } catch (error) {
      stream.destroy();
      throw error;
    }
  }

  get closed(): boolean {
    return this.#channel.closeReason !== undefined;
  }

  /** Closes the connection; idempotent. A call in progress fails with QEMU_UNREACHABLE. */
  close(): void {
    this.#channel.fail(new BovedaError('QEMU_UNREACHABLE', `${this.label}: the connection was closed by the client`));
  }

  /**
   * Resynchronises: sends 0xFF (the agent drops any partial request) and guest-sync-delimited
   * with a fresh random id, then discards everything until the agent's reply with that id.
   * Every call does this first when the channel is not known to be in step.
   */
  sync(options: GuestCallOptions = {}): Promise<void> {
    return this.#serialised(() => this.#sync(this.#deadline(options, 'guest-sync-delimited'), options.signal));
  }

  /**
   * Executes a guest agent command and returns its `return` value; an error reply is
   * QMP_COMMAND_FAILED naming the guest command. QEMU_TIMEOUT when the agent does not answer
   * in time (then the next call resynchronises first).
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: GuestCallOptions = {}): Promise<T> {
    if (typeof command !== 'string' || command === '') {
      return Promise.reject(new BovedaError('INVALID_ARGUMENT', `${this.label}: a guest agent command needs a name`));
    }
    let deadline: number;
    try {
      deadline = this.#deadline(options, command);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#serialised(async () => {
      if (!this.#synced) await this.#sync(deadline, options.signal, command);
      return (await this.#command(command, args, deadline, options.signal)) as T;
    });
  }

  ping(options?: GuestCallOptions): Promise<void> {
    return this.execute('guest-ping', undefined, options).then(() => undefined);
  }

  info(options?: GuestCallOptions): Promise<GuestAgentInfo> {
    return this.execute<GuestAgentInfo>('guest-info', undefined, options);
  }

  fsfreezeStatus(options?: GuestCallOptions): Promise<GuestFsfreezeStatus> {
    return this.execute<GuestFsfreezeStatus>('guest-fsfreeze-status', undefined, options);
  }

  /** Freezes the guest's file systems; returns how many were frozen. Always thaw in a finally. */
  fsfreezeFreeze(options?: GuestCallOptions): Promise<number> {
    return this.execute<number>('guest-fsfreeze-freeze', undefined, options);
  }

  /** Thaws the guest's file systems; returns how many were thawed. */
  fsfreezeThaw(options?: GuestCallOptions): Promise<number> {
    return this.execute<number>('guest-fsfreeze-thaw', undefined, options);
  }

  /** Starts a program in the guest; returns its pid (poll execStatus). */
  async exec(path: string, args: readonly string[] = [], options: GuestExecOptions = {}): Promise<{ pid: number }> {
    const { captureOutput = false, env, input, ...call } = options;
    const reply = await this.execute<{ pid: number }>(
      'guest-exec',
      {
        path,
        arg: [...args],
        'capture-output': captureOutput,
        ...(env === undefined ? {} : { env }),
        ...(input === undefined ? {} : { 'input-data': Buffer.from(input).toString('base64') }),
      },
      call,
    );
    if (!isJsonObject(reply) || typeof reply.pid !== 'number') {
      throw new BovedaError('QEMU_PROTOCOL', `${this.label}: guest-exec returned no pid`);
    }
    return { pid: reply.pid };
  }

  execStatus(pid: number, options?: GuestCallOptions): Promise<GuestExecStatus> {
    return this.execute<GuestExecStatus>('guest-exec-status', { pid }, options);
  }

  /**
   * Runs a program in the guest to its end: guest-exec with captured output, then polls
   * guest-exec-status. QEMU_TIMEOUT naming the program when it runs past `timeoutMs` (it keeps
   * running in the guest; the agent offers no kill).
   */
  async run(path: string, args: readonly string[] = [], options: GuestRunOptions = {}): Promise<GuestRunResult> {
    const timeoutMs = checkTimeout(options.timeoutMs, 60_000, `${this.label}: ${path}`);
    const pollMs = options.pollMs ?? defaultPollMs;
    const deadline = Date.now() + timeoutMs;
    const callTimeout = (): number => Math.max(1, Math.min(options.callTimeoutMs ?? this.#timeoutMs, deadline - Date.now()));
    const { pid } = await this.exec(path, args, {
      captureOutput: true,
      env: options.env,
      input: options.input,
      signal: options.signal,
      timeoutMs: callTimeout(),
    });
    while (true) {
      const status: unknown = await this.execStatus(pid, { signal: options.signal, timeoutMs: callTimeout() });
      if (!isExecStatus(status)) {
        throw new BovedaError('QEMU_PROTOCOL', `${this.label}: guest-exec-status for ${path} (pid ${pid}) returned a malformed status`);
      }
      if (status.exited) {
        return {
          pid,
          exitCode: status.exitcode,
          signal: status.signal,
          stdout: Buffer.from(status['out-data'] ?? '', 'base64'),
          stderr: Buffer.from(status['err-data'] ?? '', 'base64'),
          outputTruncated: status['out-truncated'] === true || status['err-truncated'] === true,
        };
      }
      if (Date.now() + pollMs >= deadline) {
        throw new BovedaError('QEMU_TIMEOUT', `${this.label}: ${path} (pid ${pid}) still runs in the guest after ${timeoutMs} ms`, {
          details: { command: 'guest-exec', path, pid },
        });
      }
      await sleep(pollMs, options.signal, `${this.label}: running ${path}`);
    }
  }

  // ---- internals ------------------------------------------------------------------------

  #deadline(options: GuestCallOptions, command: string): number {
    return Date.now() + checkTimeout(options.timeoutMs, this.#timeoutMs, `${this.label}: ${command}`);
  }

  /** One exchange at a time: the agent answers in order and a resync discards input. */
  #serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #closedError(command: string): BovedaError | undefined {
    const reason = this.#channel.closeReason;
    if (reason === undefined) return undefined;
    return new BovedaError(reason.code, `${command}: ${reason.message}`, { cause: reason, details: { command } });
  }

  #sync(deadline: number, signal: AbortSignal | undefined, forCommand?: string): Promise<void> {
    const closed = this.#closedError('guest-sync-delimited');
    if (closed !== undefined) return Promise.reject(closed);
    const id = randomInt(1, 2 ** 47);
    const timeoutMs = Math.max(1, deadline - Date.now());
    const purpose = forCommand === undefined ? '' : ` before ${forCommand}`;
    return settleWithin<void>(
      {
        timeoutMs,
        signal,
        timeoutError: () =>
          new BovedaError(
            'QEMU_TIMEOUT',
            `${this.label}: no answer to guest-sync-delimited${purpose} within ${timeoutMs} ms (is the agent running in the guest?)`,
            { details: { command: forCommand ?? 'guest-sync-delimited' } },
          ),
        abortError: () =>
          new BovedaError('ABORTED', `${this.label}: guest-sync-delimited${purpose} was cancelled`, { cause: signal?.reason }),
      },
      (settler) => {
        this.#synced = false;
        this.#expect = { kind: 'sync', id, settler };
        try {
          this.#channel.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } })}\n`)]));
        } catch (error) {
          settler.reject(error);
        }
        return () => {
          if (this.#expect?.settler === settler) this.#expect = undefined;
        };
      },
    );
  }

  #command(command: string, args: Record<string, unknown> | undefined, deadline: number, signal: AbortSignal | undefined): Promise<unknown> {
    const closed = this.#closedError(command);
    if (closed !== undefined) return Promise.reject(closed);
    const id = `boveda-qga-${++this.#nextId}`;
    let text: string;
    try {
      text = `${JSON.stringify({ execute: command, ...(args === undefined ? {} : { arguments: args }), id })}\n`;
    } catch (error) {
      return Promise.reject(new BovedaError('INVALID_ARGUMENT', `${this.label}: the arguments of ${command} are not JSON`, { cause: error }));
    }
    const timeoutMs = Math.max(1, deadline - Date.now());
    return settleWithin<unknown>(
      {
        timeoutMs,
        signal,
        timeoutError: () =>
          new BovedaError('QEMU_TIMEOUT', `${this.label}: no answer to ${command} within ${timeoutMs} ms`, { details: { command } }),
        abortError: () =>
          new BovedaError('ABORTED', `${this.label}: waiting for ${command} was cancelled (the agent may still carry it out)`, {
            cause: signal?.reason,
            details: { command },
          }),
      },
      (settler) => {
        this.#expect = { kind: 'reply', id, command, settler };
        try {
          this.#channel.write(text);
        } catch (error) {
          settler.reject(error);
        }
        return () => {
          if (this.#expect?.settler === settler) {
            // timed out or cancelled: a late reply may still come, so resync before the next call
            this.#expect = undefined;
            this.#synced = false;
          }
        };
      },
    );
  }

  #receive(line: string): void {
    if (line.trim() === '') return;
    const expect = this.#expect;
    if (expect === undefined || expect.kind === 'sync') {
      // before our sync reply everything is noise: stale replies, parse errors for the 0xFF
      if (expect !== undefined && isSyncReply(line, expect.id)) {
        this.#expect = undefined;
        this.#synced = true;
        expect.settler.resolve(undefined);
      } else if (expect === undefined) {
        this.#synced = false; // an answer nobody asked for: we are out of step
      }
      return;
    }
    let message: JsonObject;
    try {
      message = parseMessage(line, this.label);
    } catch (error) {
      this.#channel.fail(error as BovedaError);
      return;
    }
    if (!('return' in message) && !('error' in message)) {
      this.#protocolError(`sent a message that is not a reply: "${excerpt(line)}"`);
      return;
    }
    if ('id' in message && message.id !== expect.id) {
      return; // a late reply to an earlier call
    }
    this.#expect = undefined;
    if ('error' in message) {
      const body = errorBody(message.error);
      if (body === undefined) {
        this.#protocolError(`sent a malformed error reply to ${expect.command}: "${excerpt(line)}"`);
        return;
      }
      expect.settler.reject(
        new BovedaError('QMP_COMMAND_FAILED', `guest agent command ${expect.command} failed (${body.errorClass}): ${body.desc}`, {
          details: { command: expect.command, errorClass: body.errorClass, desc: body.desc, endpoint: this.label },
        }),
      );
      return;
    }
    expect.settler.resolve(message.return);
  }

  #protocolError(message: string): void {
    this.#channel.fail(new BovedaError('QEMU_PROTOCOL', `${this.label} ${message}; the connection was dropped`));
  }
}

function isExecStatus(value: unknown): value is GuestExecStatus {
  if (!isJsonObject(value) || typeof value.exited !== 'boolean') return false;
  const optional: [string, string][] = [
    ['exitcode', 'number'],
    ['signal', 'number'],
    ['out-data', 'string'],
    ['err-data', 'string'],
    ['out-truncated', 'boolean'],
    ['err-truncated', 'boolean'],
  ];
  return optional.every(([key, type]) => value[key] === undefined || typeof value[key] === type);
}

function isSyncReply(line: string, id: number): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return isJsonObject(value) && value.return === id;
  } catch {
    return false;
  }
}

function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new BovedaError('ABORTED', `${what} was cancelled`, { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new BovedaError('ABORTED', `${what} was cancelled`, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
