import type { Duplex } from 'node:stream';
import { BovedaError } from '../../../core/errors.js';
import { checkTimeout, connectUnixSocket, LineChannel } from './channel.js';
import { errorBody, excerpt, isJsonObject, parseMessage, type JsonObject } from './json-message.js';
import type {
  BlockDeviceInfo,
  BlockDirtyBitmapAddArgs,
  BlockDirtyBitmapMergeArgs,
  BlockDirtyBitmapRef,
  BlockdevOptions,
  BlockExportAddNbdArgs,
  BlockExportInfo,
  BlockInfo,
  BlockJobInfo,
  DirtyBitmapInfo,
  NbdServerStartArgs,
  QemuStatus,
  QemuVersion,
  QmpEvent,
  QmpGreeting,
  TransactionAction,
  TransactionProperties,
} from './qmp-types.js';
import { settleWithin, type Settler } from './settle.js';

export const defaultConnectTimeoutMs = 10_000;
export const defaultCommandTimeoutMs = 30_000;
/** How many ids of timed-out or cancelled commands are remembered so their late replies are dropped. */
const abandonedLimit = 1024;

export interface QmpConnectOptions {
  signal?: AbortSignal;
  /** Bound for connect + greeting + capabilities negotiation (default 10 s). */
  timeoutMs?: number;
  /** Default timeout of each command and event wait (default 30 s). */
  commandTimeoutMs?: number;
  /** Longest accepted line (default 16 MiB); a longer one is QEMU_PROTOCOL. */
  maxLineBytes?: number;
}

export interface QmpOpenOptions extends QmpConnectOptions {
  /** Names the peer in error messages. */
  label?: string;
}

export interface QmpCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export type QmpEventListener = (event: QmpEvent) => void;

/** A block device with the node inserted into it (from query-block). */
export interface BlockDeviceNode {
  /** Legacy drive name ("" for -blockdev/-device setups). */
  device: string;
  /** QOM path of the device, e.g. "/machine/peripheral/vda/virtio-backend" (the qemu-io target). */
  qdev: string | undefined;
  /** The top node the device reads (put checkpoint bitmaps here). */
  nodeName: string;
  driver: string;
  file: string;
  readOnly: boolean;
  virtualSize: number;
  dirtyBitmaps: DirtyBitmapInfo[];
}

/**
 * An armed wait for an event: it listens from the moment waitForEvent returns, so arm it before
 * executing the command that causes the event. Await it (it is a thenable) or cancel() it; a
 * wait nobody awaits never causes an unhandled rejection.
 */
export class QmpEventWait<D = Record<string, unknown>> implements PromiseLike<QmpEvent<D>> {
  readonly promise: Promise<QmpEvent<D>>;
  readonly #cancel: () => void;

  constructor(promise: Promise<QmpEvent<D>>, cancel: () => void) {
    this.promise = promise;
    this.#cancel = cancel;
    promise.catch(() => undefined);
  }

  /** Stops waiting: the promise rejects with ABORTED (silently if nobody awaits it). */
  cancel(): void {
    this.#cancel();
  }

  then<A = QmpEvent<D>, B = never>(
    onFulfilled?: ((value: QmpEvent<D>) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.promise.then(onFulfilled, onRejected);
  }
}

interface PendingCommand {
  command: string;
  settler: Settler<unknown>;
}

/**
 * A client for QEMU's QMP monitor (see index.ts for the protocol rules it keeps).
 */
export class QmpClient {
  readonly label: string;
  readonly #channel: LineChannel;
  readonly #commandTimeoutMs: number;
  #greeting: QmpGreeting | undefined;
  #onGreeting: ((greeting: QmpGreeting) => void) | undefined;
  #nextId = 0;
  readonly #pending = new Map<string, PendingCommand>();
  readonly #abandoned = new Set<string>();
  readonly #listeners = new Map<string, Set<QmpEventListener>>();

  private constructor(stream: Duplex, label: string, options: QmpConnectOptions) {
    this.label = label;
    this.#commandTimeoutMs = checkTimeout(options.commandTimeoutMs, defaultCommandTimeoutMs, label);
    this.#channel = new LineChannel(stream, label, { maxLineBytes: options.maxLineBytes });
    this.#channel.handle((line) => this.#receive(line));
    this.#channel.onClose((reason) => {
      const pending = [...this.#pending.values()];
      this.#pending.clear();
      for (const { command, settler } of pending) settler.reject(forCommand(reason, command));
    });
  }

  /**
   * Connects to a QMP unix socket, reads the greeting and negotiates capabilities. Fails with
   * QEMU_UNREACHABLE (nobody listens; names the path), QEMU_PROTOCOL (not a QMP greeting),
   * QEMU_TIMEOUT or ABORTED; nothing stays open on failure.
   */
  static async connect(socketPath: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = checkTimeout(options.timeoutMs, defaultConnectTimeoutMs, `QMP ${socketPath}`);
    const started = Date.now();
    const socket = await connectUnixSocket(socketPath, 'the QMP monitor', { signal: options.signal, timeoutMs });
    const remaining = Math.max(1, timeoutMs - (Date.now() - started));
    return await QmpClient.open(socket, { ...options, timeoutMs: remaining, label: `QEMU monitor ${socketPath}` });
  }

  /** Runs the QMP handshake over an already connected stream (a TCP socket, a test double). */
  static async open(stream: Duplex, options: QmpOpenOptions = {}): Promise<QmpClient> {
    const label = options.label ?? 'QEMU monitor';
    const timeoutMs = checkTimeout(options.timeoutMs, defaultConnectTimeoutMs, label);
    let client: QmpClient;
    try {
      client = new QmpClient(stream, label, options);
    } catch (error) {
      stream.destroy();
      throw error;
    }
    const started = Date.now();
    try {
      await client.#waitForGreeting(timeoutMs, options.signal);
      const remaining = Math.max(1, timeoutMs - (Date.now() - started));
      await client.execute('qmp_capabilities', undefined, { timeoutMs: remaining, signal: options.signal });
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** The greeting QEMU sent (version and capabilities). */
  get greeting(): QmpGreeting {
    if (this.#greeting === undefined) throw new BovedaError('INTERNAL', `${this.label}: no greeting yet`);
    return this.#greeting;
  }

  get closed(): boolean {
    return this.#channel.closeReason !== undefined;
  }

  /** Calls `listener` once when the connection ends, with the reason (immediately if it has). */
  onClose(listener: (reason: BovedaError) => void): () => void {
    return this.#channel.onClose(listener);
  }

  /** Closes the connection; idempotent. Pending commands and waits fail with QEMU_UNREACHABLE. */
  close(): void {
    this.#channel.fail(new BovedaError('QEMU_UNREACHABLE', `${this.label}: the connection was closed by the client`));
  }

  /**
   * Executes a command and returns its `return` value. An error reply is QMP_COMMAND_FAILED
   * naming the command with QEMU's class and description (details: command, errorClass, desc).
   * A timeout or abort leaves the connection usable: the late reply is dropped. QEMU may still
   * carry out a command whose wait timed out or was aborted.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: QmpCallOptions = {}): Promise<T> {
    if (typeof command !== 'string' || command === '') {
      return Promise.reject(new BovedaError('INVALID_ARGUMENT', `${this.label}: a QMP command needs a name`));
    }
    let timeoutMs: number;
    let text: string;
    const id = `boveda-${++this.#nextId}`;
    try {
      timeoutMs = checkTimeout(options.timeoutMs, this.#commandTimeoutMs, `${this.label}: ${command}`);
      text = `${JSON.stringify({ execute: command, ...(args === undefined ? {} : { arguments: args }), id })}\n`;
    } catch (error) {
      return Promise.reject(
        error instanceof BovedaError
          ? error
          : new BovedaError('INVALID_ARGUMENT', `${this.label}: the arguments of ${command} are not JSON`, { cause: error }),
      );
    }
    const closeReason = this.#channel.closeReason;
    if (closeReason !== undefined) return Promise.reject(forCommand(closeReason, command));
    return settleWithin<T>(
      {
        timeoutMs,
        signal: options.signal,
        timeoutError: () =>
          new BovedaError('QEMU_TIMEOUT', `${this.label}: no reply to ${command} within ${timeoutMs} ms`, {
            details: { command },
          }),
        abortError: () =>
          new BovedaError('ABORTED', `${this.label}: waiting for ${command} was cancelled (QEMU may still carry it out)`, {
            cause: options.signal?.reason,
            details: { command },
          }),
      },
      (settler) => {
        this.#pending.set(id, { command, settler: settler as Settler<unknown> });
        try {
          this.#channel.write(text);
        } catch (error) {
          settler.reject(error instanceof BovedaError ? forCommand(error, command) : error);
        }
        return () => {
          if (this.#pending.delete(id)) this.#abandon(id);
        };
      },
    );
  }

  /** Subscribes to an event by name ("*" for all); returns the unsubscribe function. Listeners must not throw. */
  on(eventName: string, listener: QmpEventListener): () => void {
    let set = this.#listeners.get(eventName);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(eventName, set);
    }
    set.add(listener);
    return () => {
      const current = this.#listeners.get(eventName);
      current?.delete(listener);
      if (current?.size === 0) this.#listeners.delete(eventName);
    };
  }

  /**
   * Arms a wait for the first event named `eventName` (or any of several names) that satisfies
   * `predicate`. It listens from this call on: arm it, execute the command, then await it.
   * QEMU_TIMEOUT after timeoutMs, ABORTED through the signal or cancel(), the close reason when
   * the connection ends.
   */
  waitForEvent<D = Record<string, unknown>>(
    eventName: string | readonly string[],
    predicate?: (event: QmpEvent<D>) => boolean,
    options: QmpCallOptions = {},
  ): QmpEventWait<D> {
    const names = typeof eventName === 'string' ? [eventName] : [...eventName];
    const what = names.join(' or ');
    let cancel: () => void = () => undefined;
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeout(options.timeoutMs, this.#commandTimeoutMs, `${this.label}: waiting for ${what}`);
    } catch (error) {
      return new QmpEventWait<D>(Promise.reject(error), cancel);
    }
    const promise = settleWithin<QmpEvent<D>>(
      {
        timeoutMs,
        signal: options.signal,
        timeoutError: () =>
          new BovedaError('QEMU_TIMEOUT', `${this.label}: no ${what} event within ${timeoutMs} ms`, { details: { event: what } }),
        abortError: () =>
          new BovedaError('ABORTED', `${this.label}: waiting for ${what} was cancelled`, { cause: options.signal?.reason }),
      },
      (settler) => {
        const listener = (event: QmpEvent): void => {
          const typed = event as QmpEvent<D>;
          try {
            if (predicate === undefined || predicate(typed)) settler.resolve(typed);
          } catch (error) {
            settler.reject(error);
          }
        };
        const offs = names.map((name) => this.on(name, listener));
        const offClose = this.#channel.onClose((reason) =>
          settler.reject(new BovedaError(reason.code, `${reason.message} (while waiting for ${what})`, { cause: reason })),
        );
        cancel = () =>
          settler.reject(new BovedaError('ABORTED', `${this.label}: waiting for ${what} was cancelled`));
        return () => {
          for (const off of offs) off();
          offClose();
        };
      },
    );
    return new QmpEventWait<D>(promise, () => cancel());
  }

  // ---- typed helpers -------------------------------------------------------------------

  queryVersion(options?: QmpCallOptions): Promise<QemuVersion> {
    return this.execute<QemuVersion>('query-version', undefined, options);
  }

  queryStatus(options?: QmpCallOptions): Promise<QemuStatus> {
    return this.execute<QemuStatus>('query-status', undefined, options);
  }

  /** Pauses the VM's CPUs (emits STOP). */
  stop(options?: QmpCallOptions): Promise<void> {
    return this.#void('stop', undefined, options);
  }

  /** Resumes the VM's CPUs (emits RESUME). */
  cont(options?: QmpCallOptions): Promise<void> {
    return this.#void('cont', undefined, options);
  }

  async queryBlock(options?: QmpCallOptions): Promise<BlockInfo[]> {
    const blocks = await this.execute<unknown>('query-block', undefined, options);
    if (!Array.isArray(blocks) || !blocks.every((block) => isJsonObject(block) && (block.inserted === undefined || isNode(block.inserted)))) {
      throw this.#malformed('query-block');
    }
    return blocks as BlockInfo[];
  }

  /** The devices with a medium and the top node each reads (device → node name). */
  async blockDeviceNodes(options?: QmpCallOptions): Promise<BlockDeviceNode[]> {
    const blocks = await this.queryBlock(options);
    const found: BlockDeviceNode[] = [];
    for (const block of blocks) {
      const inserted = block.inserted;
      if (inserted === undefined) continue;
      found.push({
        device: block.device,
        qdev: block.qdev,
        nodeName: inserted['node-name'],
        driver: inserted.drv,
        file: inserted.file,
        readOnly: inserted.ro,
        virtualSize: inserted.image['virtual-size'],
        dirtyBitmaps: inserted['dirty-bitmaps'] ?? [],
      });
    }
    return found;
  }

  /** Every named block node; `flat` (default true) lists each node once, without nesting. */
  async queryNamedBlockNodes(options: QmpCallOptions & { flat?: boolean } = {}): Promise<BlockDeviceInfo[]> {
    const { flat = true, ...call } = options;
    const nodes = await this.execute<unknown>('query-named-block-nodes', { flat }, call);
    if (!Array.isArray(nodes) || !nodes.every(isNode)) throw this.#malformed('query-named-block-nodes');
    return nodes as BlockDeviceInfo[];
  }

  /** Dirty bitmaps by node name (nodes without bitmaps map to []). */
  async queryDirtyBitmaps(options?: QmpCallOptions): Promise<Map<string, DirtyBitmapInfo[]>> {
    const nodes = await this.queryNamedBlockNodes(options);
    return new Map(nodes.map((node) => [node['node-name'], node['dirty-bitmaps'] ?? []]));
  }

  /** The dirty bitmaps of one node; DISK_NOT_FOUND when QEMU has no node of that name. */
  async queryNodeDirtyBitmaps(nodeName: string, options?: QmpCallOptions): Promise<DirtyBitmapInfo[]> {
    const all = await this.queryDirtyBitmaps(options);
    const bitmaps = all.get(nodeName);
    if (bitmaps === undefined) {
      throw new BovedaError('DISK_NOT_FOUND', `${this.label}: no block node named "${nodeName}"`, {
        details: { nodeName, nodes: [...all.keys()] },
      });
    }
    return bitmaps;
  }

  blockDirtyBitmapAdd(args: BlockDirtyBitmapAddArgs, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-dirty-bitmap-add', { ...args }, options);
  }

  blockDirtyBitmapRemove(ref: BlockDirtyBitmapRef, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-dirty-bitmap-remove', { node: ref.node, name: ref.name }, options);
  }

  blockDirtyBitmapClear(ref: BlockDirtyBitmapRef, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-dirty-bitmap-clear', { node: ref.node, name: ref.name }, options);
  }

  blockDirtyBitmapEnable(ref: BlockDirtyBitmapRef, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-dirty-bitmap-enable', { node: ref.node, name: ref.name }, options);
  }

  blockDirtyBitmapDisable(ref: BlockDirtyBitmapRef, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-dirty-bitmap-disable', { node: ref.node, name: ref.name }, options);
  }

  blockDirtyBitmapMerge(args: BlockDirtyBitmapMergeArgs, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-dirty-bitmap-merge', { ...args }, options);
  }

  /** All actions take effect together or none does (QEMU rolls back on the first failure). */
  transaction(
    actions: readonly TransactionAction[],
    options: QmpCallOptions & { properties?: TransactionProperties } = {},
  ): Promise<void> {
    if (actions.length === 0) {
      return Promise.reject(new BovedaError('INVALID_ARGUMENT', `${this.label}: a transaction needs at least one action`));
    }
    const { properties, ...call } = options;
    return this.#void('transaction', { actions, ...(properties === undefined ? {} : { properties }) }, call);
  }

  blockdevAdd(node: BlockdevOptions, options?: QmpCallOptions): Promise<void> {
    return this.#void('blockdev-add', { ...node }, options);
  }

  blockdevDel(nodeName: string, options?: QmpCallOptions): Promise<void> {
    return this.#void('blockdev-del', { 'node-name': nodeName }, options);
  }

  nbdServerStart(args: NbdServerStartArgs, options?: QmpCallOptions): Promise<void> {
    return this.#void('nbd-server-start', { ...args }, options);
  }

  nbdServerStop(options?: QmpCallOptions): Promise<void> {
    return this.#void('nbd-server-stop', undefined, options);
  }

  blockExportAdd(args: BlockExportAddNbdArgs, options?: QmpCallOptions): Promise<void> {
    return this.#void('block-export-add', { ...args }, options);
  }

  queryBlockExports(options?: QmpCallOptions): Promise<BlockExportInfo[]> {
    return this.execute<BlockExportInfo[]>('query-block-exports', undefined, options);
  }

  /**
   * Deletes an export and waits for its BLOCK_EXPORT_DELETED (armed before the command, so it
   * cannot be missed). `mode: "hard"` drops connected NBD clients; "safe" (QEMU's default)
   * refuses while clients are connected.
   */
  async blockExportDel(id: string, options: QmpCallOptions & { mode?: 'safe' | 'hard' } = {}): Promise<void> {
    const { mode, ...call } = options;
    const deleted = this.waitForEvent<{ id: string }>('BLOCK_EXPORT_DELETED', (event) => event.data.id === id, call);
    try {
      await this.#void('block-export-del', { id, ...(mode === undefined ? {} : { mode }) }, call);
      await deleted;
    } finally {
      deleted.cancel();
    }
  }

  queryBlockJobs(options?: QmpCallOptions): Promise<BlockJobInfo[]> {
    return this.execute<BlockJobInfo[]>('query-block-jobs', undefined, options);
  }

  /**
   * Cancels a block job and waits until it is gone: BLOCK_JOB_CANCELLED, or BLOCK_JOB_COMPLETED
   * (a job that had reached "ready" completes when cancelled). Returns the event's name.
   */
  async blockJobCancel(device: string, options: QmpCallOptions & { force?: boolean } = {}): Promise<string> {
    const { force, ...call } = options;
    const ended = this.waitForEvent<{ device: string }>(
      ['BLOCK_JOB_CANCELLED', 'BLOCK_JOB_COMPLETED'],
      (event) => event.data.device === device,
      call,
    );
    try {
      await this.#void('block-job-cancel', { device, ...(force === undefined ? {} : { force }) }, call);
      return (await ended).event;
    } finally {
      ended.cancel();
    }
  }

  /** Runs an HMP command line (e.g. qemu-io) and returns its text output. */
  humanMonitorCommand(commandLine: string, options?: QmpCallOptions): Promise<string> {
    return this.execute<string>('human-monitor-command', { 'command-line': commandLine }, options);
  }

  /**
   * Asks QEMU to exit. QEMU answers and closes the monitor; a connection that closes before
   * the answer arrives counts as success. The client is closed afterwards.
   */
  async quit(options?: QmpCallOptions): Promise<void> {
    try {
      await this.execute('quit', undefined, options);
    } catch (error) {
      if (!(error instanceof BovedaError && error.code === 'QEMU_UNREACHABLE')) throw error;
    } finally {
      this.close();
    }
  }

  // ---- internals ------------------------------------------------------------------------

  async #void(command: string, args: Record<string, unknown> | undefined, options?: QmpCallOptions): Promise<void> {
    await this.execute<unknown>(command, args, options);
  }

  /** A reply whose shape the helper cannot use: QEMU_PROTOCOL; the connection stays open (the reply itself was well framed). */
  #malformed(command: string): BovedaError {
    return new BovedaError('QEMU_PROTOCOL', `${this.label}: the reply to ${command} does not have the expected shape`, {
      details: { command },
    });
  }

  #abandon(id: string): void {
    this.#abandoned.add(id);
    if (this.#abandoned.size > abandonedLimit) {
      const oldest = this.#abandoned.values().next().value;
      if (oldest !== undefined) this.#abandoned.delete(oldest);
    }
  }

  #waitForGreeting(timeoutMs: number, signal: AbortSignal | undefined): Promise<QmpGreeting> {
    return settleWithin<QmpGreeting>(
      {
        timeoutMs,
        signal,
        timeoutError: () => new BovedaError('QEMU_TIMEOUT', `${this.label} sent no QMP greeting within ${timeoutMs} ms`),
        abortError: () => new BovedaError('ABORTED', `connecting to ${this.label} was cancelled`, { cause: signal?.reason }),
      },
      (settler) => {
        if (this.#greeting !== undefined) settler.resolve(this.#greeting);
        this.#onGreeting = (greeting) => settler.resolve(greeting);
        const offClose = this.#channel.onClose((reason) =>
          settler.reject(new BovedaError(reason.code, `${reason.message} (before the QMP greeting)`, { cause: reason })),
        );
        return () => {
          this.#onGreeting = undefined;
          offClose();
        };
      },
    );
  }

  #protocolError(message: string): void {
    this.#channel.fail(new BovedaError('QEMU_PROTOCOL', `${this.label} ${message}; the connection was dropped`));
  }

  #receive(line: string): void {
    if (line.trim() === '') return;
    let message: JsonObject;
    try {
      message = parseMessage(line, this.label);
    } catch (error) {
      this.#channel.fail(error as BovedaError);
      return;
    }
    if (this.#greeting === undefined) {
      this.#receiveGreeting(message, line);
      return;
    }
    if ('event' in message) {
      this.#receiveEvent(message, line);
      return;
    }
    if ('return' in message || 'error' in message) {
      this.#receiveReply(message, line);
      return;
    }
    this.#protocolError(`sent a message that is neither a reply nor an event: "${excerpt(line)}"`);
  }

  #receiveGreeting(message: JsonObject, line: string): void {
    const body = message.QMP;
    if (!isJsonObject(body) || !isJsonObject(body.version) || !Array.isArray(body.capabilities)) {
      this.#protocolError(`did not start with a QMP greeting: "${excerpt(line)}"`);
      return;
    }
    const version = body.version;
    const qemu = version.qemu;
    if (
      !isJsonObject(qemu) ||
      typeof qemu.major !== 'number' ||
      typeof qemu.minor !== 'number' ||
      typeof qemu.micro !== 'number'
    ) {
      this.#protocolError(`sent a QMP greeting without a version: "${excerpt(line)}"`);
      return;
    }
    this.#greeting = {
      version: {
        qemu: { major: qemu.major, minor: qemu.minor, micro: qemu.micro },
        package: typeof version.package === 'string' ? version.package : '',
      },
      capabilities: body.capabilities.filter((capability): capability is string => typeof capability === 'string'),
    };
    this.#onGreeting?.(this.#greeting);
  }

  #receiveEvent(message: JsonObject, line: string): void {
    const name = message.event;
    const data = message.data ?? {};
    if (typeof name !== 'string' || !isJsonObject(data)) {
      this.#protocolError(`sent a malformed event: "${excerpt(line)}"`);
      return;
    }
    const event: QmpEvent = { event: name, data };
    if (isJsonObject(message.timestamp)) {
      const { seconds, microseconds } = message.timestamp;
      if (typeof seconds === 'number' && typeof microseconds === 'number') event.timestamp = { seconds, microseconds };
    }
    for (const key of [name, '*']) {
      const listeners = this.#listeners.get(key);
      if (listeners === undefined) continue;
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch {
          // a listener's failure is its own; the connection carries on
        }
      }
    }
  }

  #receiveReply(message: JsonObject, line: string): void {
    const id = message.id;
    if (typeof id !== 'string') {
      // we send an id with every command; QEMU omits it only when it could not parse the request
      this.#protocolError(`sent a reply without a command id: "${excerpt(line)}"`);
      return;
    }
    const pending = this.#pending.get(id);
    if (pending === undefined) {
      if (this.#abandoned.delete(id)) return; // the late reply of a command that timed out or was cancelled
      this.#protocolError(`sent a reply to a command it was never sent (id ${JSON.stringify(excerpt(id, 40))})`);
      return;
    }
    this.#pending.delete(id);
    if ('error' in message) {
      const body = errorBody(message.error);
      if (body === undefined) {
        this.#pending.set(id, pending); // fails with the protocol error, like everything pending
        this.#protocolError(`sent a malformed error reply to ${pending.command}: "${excerpt(line)}"`);
        return;
      }
      pending.settler.reject(
        new BovedaError('QMP_COMMAND_FAILED', `QMP command ${pending.command} failed (${body.errorClass}): ${body.desc}`, {
          details: { command: pending.command, errorClass: body.errorClass, desc: body.desc, endpoint: this.label },
        }),
      );
      return;
    }
    pending.settler.resolve(message.return);
  }
}

/** A block node as the helpers read it: a name, a driver, an image with a size, a bitmap list. */
function isNode(value: unknown): boolean {
  if (!isJsonObject(value)) return false;
  if (typeof value['node-name'] !== 'string' || typeof value.drv !== 'string') return false;
  if (!isJsonObject(value.image) || typeof value.image['virtual-size'] !== 'number') return false;
  const bitmaps = value['dirty-bitmaps'];
  if (bitmaps === undefined) return true;
  return (
    Array.isArray(bitmaps) &&
    bitmaps.every(
      (bitmap) =>
        isJsonObject(bitmap) &&
        typeof bitmap.count === 'number' &&
        typeof bitmap.granularity === 'number' &&
        typeof bitmap.recording === 'boolean' &&
        typeof bitmap.busy === 'boolean' &&
        typeof bitmap.persistent === 'boolean',
    )
  );
}

/** The close reason restated for one command, keeping the code. */
function forCommand(reason: BovedaError, command: string): BovedaError {
  return new BovedaError(reason.code, `${command}: ${reason.message}`, { cause: reason, details: { command } });
}
