import { setMaxListeners } from 'node:events';
import { BovedaError } from '../../../core/errors.js';
import { throwIfAborted } from '../../../util/abort.js';
import {
  abortOption,
  listExports as listExportsOnWire,
  listMetaContexts as listMetaContextsOnWire,
  negotiate,
  protocolError,
  type NbdBlockSize,
  type NbdExportEntry,
} from './handshake.js';
import {
  Cmd,
  CMD_FLAG_REQ_ONE,
  commandNames,
  CONTEXT_BASE_ALLOCATION,
  DIRTY_BITMAP_PREFIX,
  encodeRequest,
  errnoName,
  Limits,
  printable,
  readU64,
  Reply,
  REPLY_FLAG_DONE,
  REPLY_TYPE_ERROR_BIT,
  SIMPLE_REPLY_MAGIC,
  STATE_DIRTY,
  STATE_HOLE,
  STATE_ZERO,
  STRUCTURED_REPLY_MAGIC,
  TransmissionFlag,
} from './protocol.js';
import { describeEndpoint, socketTransport, Wire, type NbdEndpoint, type OpenNbdTransport } from './wire.js';

export interface NbdConnectOptions {
  /** The export to open ("" is the server's default export). */
  exportName: string;
  /** Metadata contexts to negotiate, e.g. "base:allocation", "qemu:dirty-bitmap:chk1". Each must be offered. */
  metaContexts?: readonly string[];
  signal?: AbortSignal;
  /** Deadline of connect + handshake, and the default time any one request may wait for its reply (default 30 s). */
  timeoutMs?: number;
  /** Requests in flight at once on this connection (default 16). */
  maxInFlight?: number;
  /** Largest READ sent (default 2 MiB, never above the server's maximum block size). */
  maxRequestBytes?: number;
}

export interface NbdRequestOptions {
  signal?: AbortSignal;
  /** The time each request may wait for its reply; past it the server counts as hung and the connection is dropped. */
  timeoutMs?: number;
}

export interface NbdBlockStatusOptions extends NbdRequestOptions {
  /** NBD_CMD_FLAG_REQ_ONE: one extent per reply. */
  reqOne?: boolean;
}

export interface NbdExportFlags {
  readOnly: boolean;
  canFlush: boolean;
  canFua: boolean;
  rotational: boolean;
  canTrim: boolean;
  canWriteZeroes: boolean;
  canMultiConn: boolean;
  canCache: boolean;
}

/** A run of bytes with one status (`flags` as the context defines them). */
export interface NbdExtent {
  offset: number;
  length: number;
  flags: number;
}

export interface NbdAllocationExtent {
  offset: number;
  length: number;
  /** Not allocated (NBD_STATE_HOLE). */
  hole: boolean;
  /** Reads as zeros (NBD_STATE_ZERO): nothing to copy. */
  zero: boolean;
}

export interface NbdRange {
  offset: number;
  length: number;
}

export interface NbdListOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** The largest window one BLOCK_STATUS asks about (the length is a u32). */
export const blockStatusWindowBytes = 1024 * 1024 * 1024;

const defaultTimeoutMs = 30_000;
const defaultMaxInFlight = 16;
const defaultMaxRequestBytes = 2 * 1024 * 1024;

interface Pending extends RequestSpec {
  cookie: number;
  seenContexts: number[];
  extents: NbdExtent[] | null;
  /** READ: covered [start, end) pairs relative to `offset`, to prove the reply covers the request exactly once. */
  ranges: number[];
  chunks: number;
  error: { errno: number; message: string } | null;
  abandoned: boolean;
  timer: NodeJS.Timeout | undefined;
  settle: (error: BovedaError | null) => void;
}

type RxState =
  | { kind: 'header' }
  | { kind: 'payload'; req: Pending; type: number; length: number; done: boolean }
  | { kind: 'data-offset'; req: Pending; dataLength: number; done: boolean }
  | { kind: 'data'; req: Pending; at: number; remaining: number; done: boolean };

const idle: RxState = { kind: 'header' };

interface RequestSpec {
  type: number;
  flags: number;
  offset: number;
  length: number;
  /** READ: where the bytes go (index 0 = `offset`); null once abandoned (abort), so nothing is written after. */
  target: Uint8Array | null;
  /** BLOCK_STATUS: the context whose extents are wanted. */
  contextId: number;
  contextName: string;
}

/**
 * An NBD client connection in the transmission phase (see index.ts for the concepts and invariants).
 * Create with NbdClient.connect; end with disconnect() (polite) or close().
 */
export class NbdClient {
  readonly exportName: string;
  /** "unix socket /path" or "tcp host:port", for messages. */
  readonly where: string;
  /** Export size in bytes. */
  readonly size: number;
  /** The raw u16 transmission flags. */
  readonly transmissionFlags: number;
  readonly flags: NbdExportFlags;
  readonly blockSize: NbdBlockSize;
  readonly structuredReplies: boolean;
  /** Negotiated metadata contexts: name → the server's id for it. */
  readonly metaContexts: ReadonlyMap<string, number>;

  readonly #wire: Wire;
  readonly #pending = new Map<number, Pending>();
  readonly #gate: Array<{ start: () => void; fail: (error: BovedaError) => void }> = [];
  readonly #maxInFlight: number;
  readonly #pieceBytes: number;
  readonly #timeoutMs: number;
  #inFlight = 0;
  #nextCookie = 1;
  #rx: RxState = idle;
  #disconnecting: Promise<void> | null = null;

  private constructor(
    wire: Wire,
    exportName: string,
    negotiated: Awaited<ReturnType<typeof negotiate>>,
    options: NbdConnectOptions,
  ) {
    this.#wire = wire;
    this.where = wire.where;
    this.exportName = exportName;
    this.size = negotiated.size;
    this.transmissionFlags = negotiated.transmissionFlags;
    const has = (flag: number): boolean => (negotiated.transmissionFlags & flag) !== 0;
    this.flags = {
      readOnly: has(TransmissionFlag.READ_ONLY),
      canFlush: has(TransmissionFlag.SEND_FLUSH),
      canFua: has(TransmissionFlag.SEND_FUA),
      rotational: has(TransmissionFlag.ROTATIONAL),
      canTrim: has(TransmissionFlag.SEND_TRIM),
      canWriteZeroes: has(TransmissionFlag.SEND_WRITE_ZEROES),
      canMultiConn: has(TransmissionFlag.CAN_MULTI_CONN),
      canCache: has(TransmissionFlag.SEND_CACHE),
    };
    this.blockSize = Object.freeze({ ...negotiated.blockSize });
    this.structuredReplies = negotiated.structuredReplies;
    this.metaContexts = negotiated.metaContexts;
    this.#maxInFlight = options.maxInFlight ?? defaultMaxInFlight;
    this.#timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    const { minimum, maximum } = negotiated.blockSize;
    const cap = Math.min(options.maxRequestBytes ?? defaultMaxRequestBytes, maximum, 0xffff_ffff);
    this.#pieceBytes = Math.max(minimum, cap - (cap % minimum));
    wire.onFail((error) => this.#failAll(error));
    wire.onReceive = () => this.#drain();
    if (wire.queue.length > 0) this.#drain();
  }

  /** Connects, negotiates structured replies and `metaContexts`, and opens `exportName` (NBD_OPT_GO). */
  static async connect(endpoint: NbdEndpoint, options: NbdConnectOptions): Promise<NbdClient> {
    return NbdClient.connectTransport(socketTransport(endpoint), describeEndpoint(endpoint), options);
  }

  /** connect() over any transport (tests use in-memory pipes); `where` names it in messages. */
  static async connectTransport(open: OpenNbdTransport, where: string, options: NbdConnectOptions): Promise<NbdClient> {
    checkConnectOptions(options);
    const metaContexts = options.metaContexts ?? [];
    const negotiated = await withHandshake(open, where, options, `connecting to NBD export "${options.exportName}"`, true, (wire) =>
      negotiate(wire, { exportName: options.exportName, metaContexts }),
    );
    return new NbdClient(negotiated.wire, options.exportName, negotiated.result, options);
  }

  /** NBD_OPT_LIST_META_CONTEXT on a short-lived connection: e.g. prefix "qemu:dirty-bitmap:" lists exported bitmaps. */
  static async listMetaContexts(
    endpoint: NbdEndpoint,
    options: NbdListOptions & { exportName: string; prefix?: string },
  ): Promise<string[]> {
    const queries = options.prefix === undefined || options.prefix === '' ? [] : [options.prefix];
    const { result } = await withHandshake(socketTransport(endpoint), describeEndpoint(endpoint), options, 'listing metadata contexts', false, (wire) =>
      listMetaContextsOnWire(wire, options.exportName, queries),
    );
    return result;
  }

  /** NBD_OPT_LIST on a short-lived connection (servers may refuse it: NBD_REQUEST_FAILED). */
  static async listExports(endpoint: NbdEndpoint, options: NbdListOptions = {}): Promise<NbdExportEntry[]> {
    const { result } = await withHandshake(socketTransport(endpoint), describeEndpoint(endpoint), options, 'listing exports', false, (wire) =>
      listExportsOnWire(wire),
    );
    return result;
  }

  /** The bitmap names of `qemu:dirty-bitmap:NAME` contexts negotiated on this connection. */
  get dirtyBitmaps(): string[] {
    return [...this.metaContexts.keys()].filter((name) => name.startsWith(DIRTY_BITMAP_PREFIX)).map((name) => name.slice(DIRTY_BITMAP_PREFIX.length));
  }

  /** Reads `length` bytes at `offset` into a new buffer. */
  async read(offset: number, length: number, options: NbdRequestOptions = {}): Promise<Buffer> {
    checkRange(this, 'read', offset, length);
    const target = Buffer.allocUnsafe(length);
    await this.readInto(offset, target, options);
    return target;
  }

  /**
   * Fills `target` with the bytes at `offset` (holes as zeros), copying straight from the socket's
   * buffers. Large reads are split at the server's maximum block size and pipelined. On rejection
   * nothing is written into `target` any more.
   */
  async readInto(offset: number, target: Uint8Array, options: NbdRequestOptions = {}): Promise<void> {
    if (!(target instanceof Uint8Array)) throw new BovedaError('INVALID_ARGUMENT', 'NBD readInto needs a Uint8Array target');
    checkRange(this, 'read', offset, target.length);
    if (target.length === 0) {
      this.#checkUsable(`READ ${offset}+0`, options.signal);
      return;
    }
    const piece = this.#pieceBytes;
    if (target.length <= piece) {
      await this.#submit(this.#spec(Cmd.READ, 0, offset, target.length, target), options);
      return;
    }
    const op = new AbortController();
    setMaxListeners(0, op.signal); // one listener per piece in flight
    const forward = (): void => op.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', forward, { once: true });
    try {
      const pieces: Promise<Pending>[] = [];
      for (let at = 0; at < target.length; at += piece) {
        const n = Math.min(piece, target.length - at);
        pieces.push(this.#submit(this.#spec(Cmd.READ, 0, offset + at, n, target.subarray(at, at + n)), { signal: op.signal, timeoutMs: options.timeoutMs }));
      }
      await Promise.all(pieces);
    } catch (error) {
      op.abort(); // abandons the other pieces: nothing more lands in target
      throw error;
    } finally {
      options.signal?.removeEventListener('abort', forward);
    }
  }

  /**
   * One BLOCK_STATUS for `context` over [offset, offset + length) (length ≤ 2^32 − 1): the extents
   * from `offset`, consecutive, clipped to the request and to the export; they may cover less than
   * asked (ask again from where they end).
   */
  async blockStatus(offset: number, length: number, context: string, options: NbdBlockStatusOptions = {}): Promise<NbdExtent[]> {
    const contextId = this.metaContexts.get(context);
    if (contextId === undefined) {
      throw new BovedaError(
        'INVALID_ARGUMENT',
        `metadata context "${context}" was not negotiated on NBD export "${this.exportName}" at ${this.where} (negotiated: ${[...this.metaContexts.keys()].join(', ') || 'none'}); pass it in metaContexts when connecting`,
      );
    }
    checkRange(this, 'block status', offset, length);
    if (length < 1 || length > 0xffff_ffff) {
      throw new BovedaError('INVALID_ARGUMENT', `NBD block status length must be 1…2^32−1, got ${length}`);
    }
    const spec = this.#spec(Cmd.BLOCK_STATUS, options.reqOne ? CMD_FLAG_REQ_ONE : 0, offset, length, null);
    spec.contextId = contextId;
    spec.contextName = context;
    const req = await this.#submit(spec, options);
    const end = Math.min(offset + length, Math.max(this.size, offset + 1));
    const extents: NbdExtent[] = [];
    let at = offset;
    for (const extent of req.extents!) {
      if (at >= end) break;
      const n = Math.min(extent.length, end - at);
      extents.push({ offset: at, length: n, flags: extent.flags });
      at += n;
    }
    return extents;
  }

  /** Every extent of `context` over [offset, offset + length), asking in windows of ≤ 1 GiB. */
  async *extents(context: string, offset = 0, length = this.size - offset, options: NbdRequestOptions = {}): AsyncGenerator<NbdExtent> {
    checkRange(this, 'extents', offset, length);
    const end = Math.min(offset + length, this.size);
    let at = offset;
    while (at < end) {
      throwIfAborted(options.signal, `reading ${context} extents of NBD export "${this.exportName}"`);
      const window = Math.min(end - at, blockStatusWindowBytes);
      const extents = await this.blockStatus(at, window, context, options);
      for (const extent of extents) {
        yield extent;
        at += extent.length;
      }
    }
  }

  /** base:allocation over a range (default: the whole disk), neighbours with the same status merged. */
  async *allocationExtents(offset = 0, length = this.size - offset, options: NbdRequestOptions = {}): AsyncGenerator<NbdAllocationExtent> {
    let run: NbdAllocationExtent | null = null;
    for await (const extent of this.extents(CONTEXT_BASE_ALLOCATION, offset, length, options)) {
      const hole = (extent.flags & STATE_HOLE) !== 0;
      const zero = (extent.flags & STATE_ZERO) !== 0;
      if (run !== null && run.hole === hole && run.zero === zero) {
        run.length += extent.length;
        continue;
      }
      if (run !== null) yield run;
      run = { offset: extent.offset, length: extent.length, hole, zero };
    }
    if (run !== null) yield run;
  }

  /** The dirty ranges of bitmap `bitmapName` (context qemu:dirty-bitmap:NAME) in [offset, offset + length), merged. */
  async *dirtyExtents(offset: number, length: number, bitmapName: string, options: NbdRequestOptions = {}): AsyncGenerator<NbdRange> {
    let run: NbdRange | null = null;
    for await (const extent of this.extents(DIRTY_BITMAP_PREFIX + bitmapName, offset, length, options)) {
      if ((extent.flags & STATE_DIRTY) === 0) continue;
      if (run !== null && run.offset + run.length === extent.offset) {
        run.length += extent.length;
        continue;
      }
      if (run !== null) yield run;
      run = { offset: extent.offset, length: extent.length };
    }
    if (run !== null) yield run;
  }

  /** NBD_CMD_FLUSH (INVALID_ARGUMENT when the export does not advertise it). */
  async flush(options: NbdRequestOptions = {}): Promise<void> {
    if (!this.flags.canFlush) {
      throw new BovedaError('INVALID_ARGUMENT', `NBD export "${this.exportName}" at ${this.where} does not support FLUSH`);
    }
    await this.#submit(this.#spec(Cmd.FLUSH, 0, 0, 0, null), options);
  }

  /** Requests in flight (sent, reply not complete), abandoned ones included. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * NBD_CMD_DISC, then close: the server answers what is in flight first. Idempotent; resolves
   * once the connection is closed (after at most 1 s).
   */
  disconnect(): Promise<void> {
    if (this.#disconnecting !== null) return this.#disconnecting;
    this.#disconnecting = (async () => {
      const wire = this.#wire;
      if (wire.failure !== null) return;
      // In-flight requests keep their replies: stop reading only when the server closes.
      wire.write(encodeRequest(0, Cmd.DISC, this.#nextCookie++, 0, 0));
      wire.expectClose(`the NBD connection to export "${this.exportName}" at ${this.where} was disconnected by the client`);
      wire.transport!.end();
      const timer = setTimeout(() => this.close(), 1000);
      await wire.closed;
      clearTimeout(timer);
    })();
    return this.#disconnecting;
  }

  /** Drops the connection now; requests in flight fail with QEMU_UNREACHABLE. Idempotent. */
  close(): void {
    this.#wire.fail(new BovedaError('QEMU_UNREACHABLE', `the NBD connection to export "${this.exportName}" at ${this.where} was closed by the client`));
  }

  // ---- requests ----

  #spec(type: number, flags: number, offset: number, length: number, target: Uint8Array | null): RequestSpec {
    return { type, flags, offset, length, target, contextId: 0, contextName: '' };
  }

  #describe(spec: { type: number; offset: number; length: number; contextName: string }): string {
    const context = spec.contextName === '' ? '' : ` of ${spec.contextName}`;
    return `${commandNames[spec.type] ?? `command ${spec.type}`} ${spec.offset}+${spec.length}${context}`;
  }

  #checkUsable(what: string, signal: AbortSignal | undefined): void {
    throwIfAborted(signal, `NBD ${what} on export "${this.exportName}"`);
    const failure = this.#wire.failure;
    if (failure !== null) throw this.#requestFailure(what, failure);
    if (this.#disconnecting !== null) {
      throw new BovedaError('QEMU_UNREACHABLE', `NBD ${what} on export "${this.exportName}" at ${this.where}: the client is disconnecting`);
    }
  }

  #requestFailure(what: string, failure: BovedaError): BovedaError {
    return new BovedaError(failure.code, `NBD ${what} on export "${this.exportName}" failed: ${failure.message}`, { cause: failure });
  }

  #submit(spec: RequestSpec, options: NbdRequestOptions): Promise<Pending> {
    const what = this.#describe(spec);
    this.#checkUsable(what, options.signal);
    const signal = options.signal;
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    return new Promise<Pending>((resolve, reject) => {
      let queued: { start: () => void; fail: (error: BovedaError) => void } | null = null;
      const req: Pending = {
        ...spec,
        cookie: 0,
        seenContexts: [],
        extents: null,
        ranges: [],
        chunks: 0,
        error: null,
        abandoned: false,
        timer: undefined,
        settle: (error) => {
          signal?.removeEventListener('abort', onAbort);
          if (error === null) resolve(req);
          else reject(error);
        },
      };
      const onAbort = (): void => {
        if (queued !== null) {
          const index = this.#gate.indexOf(queued);
          if (index >= 0) this.#gate.splice(index, 1);
        } else {
          req.abandoned = true;
          req.target = null;
        }
        req.settle(new BovedaError('ABORTED', `NBD ${what} on export "${this.exportName}" was cancelled`, { cause: signal?.reason }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const start = (): void => {
        queued = null;
        req.cookie = this.#nextCookie++;
        this.#pending.set(req.cookie, req);
        req.timer = setTimeout(() => {
          this.#wire.fail(
            new BovedaError('QEMU_TIMEOUT', `NBD server ${this.where} did not answer ${what} on export "${this.exportName}" within ${timeoutMs} ms; connection dropped`),
          );
        }, timeoutMs);
        this.#wire.write(encodeRequest(spec.flags, spec.type, req.cookie, spec.offset, spec.length));
      };
      if (this.#inFlight < this.#maxInFlight) {
        this.#inFlight++;
        start();
      } else {
        queued = { start, fail: (error) => req.settle(this.#requestFailure(what, error)) };
        this.#gate.push(queued);
      }
    });
  }

  #release(): void {
    this.#inFlight--;
    while (this.#inFlight < this.#maxInFlight && this.#gate.length > 0) {
      this.#inFlight++;
      this.#gate.shift()!.start();
    }
  }

  #failAll(failure: BovedaError): void {
    this.#rx = idle;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    const queued = this.#gate.splice(0);
    this.#inFlight = 0;
    for (const req of pending) {
      clearTimeout(req.timer);
      if (!req.abandoned) req.settle(this.#requestFailure(this.#describe(req), failure));
    }
    for (const waiter of queued) waiter.fail(failure);
  }

  #finish(req: Pending): void {
    if (req.error === null) {
      if (req.type === Cmd.READ) this.#checkCoverage(req);
      if (req.type === Cmd.BLOCK_STATUS && req.extents === null) {
        throw this.#protocol(`ended the reply to ${this.#describe(req)} without extents for that context`);
      }
    }
    this.#pending.delete(req.cookie);
    clearTimeout(req.timer);
    this.#release();
    if (req.abandoned) return;
    if (req.error === null) {
      req.settle(null);
      return;
    }
    const { errno, message } = req.error;
    const what = this.#describe(req);
    req.settle(
      new BovedaError(
        'NBD_REQUEST_FAILED',
        `NBD server ${this.where} failed ${what} on export "${this.exportName}": ${errnoName(errno)}${message === '' ? '' : ` (${message})`}`,
        { details: { endpoint: this.where, exportName: this.exportName, request: what, errno, errnoName: errnoName(errno), message } },
      ),
    );
  }

  #checkCoverage(req: Pending): void {
    const ranges = req.ranges;
    // Chunks usually arrive in order; sort pairs only when they did not.
    let ordered = true;
    for (let i = 2; i < ranges.length; i += 2) if (ranges[i]! < ranges[i - 2]!) ordered = false;
    let pairs = ranges;
    if (!ordered) {
      const list: Array<[number, number]> = [];
      for (let i = 0; i < ranges.length; i += 2) list.push([ranges[i]!, ranges[i + 1]!]);
      list.sort((a, b) => a[0] - b[0]);
      pairs = list.flat();
    }
    let at = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i] !== at) break;
      at = pairs[i + 1]!;
    }
    if (at !== req.length || pairs.length === 0) {
      throw this.#protocol(`answered ${this.#describe(req)} with chunks that do not cover it exactly once`);
    }
  }

  #protocol(what: string): BovedaError {
    return protocolError(this.#wire, what);
  }

  // ---- receive path ----

  #drain(): void {
    const queue = this.#wire.queue;
    try {
      for (;;) {
        if (this.#wire.failure !== null) return;
        const rx = this.#rx;
        if (rx.kind === 'header') {
          if (queue.length < 4) return;
          const magic = queue.peekUint32();
          if (magic === STRUCTURED_REPLY_MAGIC) {
            if (queue.length < 20) return;
            this.#onChunkHeader(queue.take(20));
          } else if (magic === SIMPLE_REPLY_MAGIC) {
            if (queue.length < 16) return;
            this.#onSimpleReply(queue.take(16));
          } else {
            throw this.#protocol(`sent a reply with bad magic 0x${magic.toString(16).padStart(8, '0')}`);
          }
        } else if (rx.kind === 'data') {
          const n = queue.moveInto(rx.req.target, rx.at, rx.remaining);
          rx.at += n;
          rx.remaining -= n;
          if (rx.remaining > 0) return;
          this.#rx = idle;
          if (rx.done) this.#finish(rx.req);
        } else if (rx.kind === 'data-offset') {
          if (queue.length < 8) return;
          const start = this.#chunkRange(rx.req, readU64(queue.take(8), 0), rx.dataLength, 'OFFSET_DATA');
          this.#rx = { kind: 'data', req: rx.req, at: start, remaining: rx.dataLength, done: rx.done };
        } else {
          if (queue.length < rx.length) return;
          this.#rx = idle;
          this.#onPayload(rx.req, rx.type, queue.take(rx.length));
          if (rx.done) this.#finish(rx.req);
        }
      }
    } catch (error) {
      this.#wire.fail(
        error instanceof BovedaError
          ? error
          : new BovedaError('INTERNAL', `NBD client failed parsing replies from ${this.where}: ${String(error)}`, { cause: error }),
      );
    }
  }

  #lookup(cookie: number, what: string): Pending {
    const req = this.#pending.get(cookie);
    if (req === undefined) {
      throw this.#protocol(`sent a ${what} for cookie ${cookie}, which is not in flight (unknown, or its reply already ended)`);
    }
    return req;
  }

  #onSimpleReply(header: Buffer): void {
    const errno = header.readUInt32BE(4);
    const req = this.#lookup(readU64(header, 8), 'simple reply');
    if (req.chunks > 0) throw this.#protocol(`sent a simple reply after structured chunks for ${this.#describe(req)}`);
    if (this.structuredReplies && req.type === Cmd.READ) {
      throw this.#protocol(`sent a simple reply to ${this.#describe(req)} although structured replies were negotiated`);
    }
    if (errno !== 0) {
      req.error = { errno, message: '' };
      this.#finish(req);
    } else if (req.type === Cmd.READ) {
      req.ranges.push(0, req.length);
      this.#rx = { kind: 'data', req, at: 0, remaining: req.length, done: true };
    } else if (req.type === Cmd.BLOCK_STATUS) {
      throw this.#protocol(`sent a simple reply without extents to ${this.#describe(req)}`);
    } else {
      this.#finish(req);
    }
  }

  #onChunkHeader(header: Buffer): void {
    if (!this.structuredReplies) throw this.#protocol('sent a structured reply chunk although structured replies were not negotiated');
    const flags = header.readUInt16BE(4);
    const type = header.readUInt16BE(6);
    const length = header.readUInt32BE(16);
    const req = this.#lookup(readU64(header, 8), `reply chunk (type ${type})`);
    const done = (flags & REPLY_FLAG_DONE) !== 0;
    req.chunks++;
    const bad = (why: string): BovedaError => this.#protocol(`sent a bad reply chunk for ${this.#describe(req)}: ${why}`);
    switch (type) {
      case Reply.NONE:
        if (!done || length !== 0) throw bad(`NONE chunk with length ${length}${done ? '' : ' and without DONE'}`);
        this.#finish(req);
        return;
      case Reply.OFFSET_DATA:
        if (req.type !== Cmd.READ) throw bad('OFFSET_DATA is only valid for READ');
        if (length < 9 || length - 8 > req.length) throw bad(`OFFSET_DATA of ${length} bytes for a ${req.length}-byte read`);
        this.#rx = { kind: 'data-offset', req, dataLength: length - 8, done };
        return;
      case Reply.OFFSET_HOLE:
        if (req.type !== Cmd.READ) throw bad('OFFSET_HOLE is only valid for READ');
        if (length !== 12) throw bad(`OFFSET_HOLE of ${length} bytes (expected 12)`);
        break;
      case Reply.BLOCK_STATUS:
        if (req.type !== Cmd.BLOCK_STATUS) throw bad('BLOCK_STATUS chunk is only valid for BLOCK_STATUS');
        if (length < 12 || (length - 4) % 8 !== 0 || length > Limits.maxBlockStatusChunk) throw bad(`BLOCK_STATUS chunk of ${length} bytes`);
        break;
      default:
        if ((type & REPLY_TYPE_ERROR_BIT) === 0) throw bad(`unknown chunk type ${type}`);
        if (length < 6 || length > Limits.maxErrorChunk) throw bad(`error chunk of ${length} bytes`);
    }
    this.#rx = { kind: 'payload', req, type, length, done };
  }

  /** Checks that [offset, offset + length) lies in the request and records it; returns its index in the target. */
  #chunkRange(req: Pending, offset: number, length: number, kind: string): number {
    const start = offset - req.offset;
    if (!(start >= 0 && start + length <= req.length)) {
      throw this.#protocol(`sent ${kind} ${offset}+${length} outside ${this.#describe(req)}`);
    }
    req.ranges.push(start, start + length);
    if (req.ranges.length > 2 * 1024 * 1024) throw this.#protocol(`split ${this.#describe(req)} into too many chunks`);
    return start;
  }

  #onPayload(req: Pending, type: number, payload: Buffer): void {
    if (type === Reply.OFFSET_HOLE) {
      const holeLength = payload.readUInt32BE(8);
      if (holeLength === 0) throw this.#protocol(`sent an empty OFFSET_HOLE for ${this.#describe(req)}`);
      const start = this.#chunkRange(req, readU64(payload, 0), holeLength, 'OFFSET_HOLE');
      req.target?.fill(0, start, start + holeLength);
    } else if (type === Reply.BLOCK_STATUS) {
      const id = payload.readUInt32BE(0);
      if (req.seenContexts.includes(id)) throw this.#protocol(`sent two BLOCK_STATUS chunks for context id ${id} in one reply`);
      if (![...this.metaContexts.values()].includes(id)) throw this.#protocol(`sent BLOCK_STATUS for context id ${id}, which was not negotiated`);
      req.seenContexts.push(id);
      if (id !== req.contextId) return;
      const count = (payload.length - 4) / 8;
      const extents: NbdExtent[] = new Array(count);
      let sum = 0;
      for (let i = 0; i < count; i++) {
        const length = payload.readUInt32BE(4 + 8 * i);
        if (length === 0) throw this.#protocol(`sent a zero-length extent for ${this.#describe(req)}`);
        if (i > 0 && sum >= req.length) throw this.#protocol(`sent extents past the end of ${this.#describe(req)}`);
        extents[i] = { offset: req.offset + sum, length, flags: payload.readUInt32BE(8 + 8 * i) };
        sum += length;
      }
      if (req.flags & CMD_FLAG_REQ_ONE && (count !== 1 || sum > req.length)) {
        throw this.#protocol(`sent ${count} extents (${sum} bytes) for ${this.#describe(req)} with REQ_ONE`);
      }
      req.extents = extents;
    } else {
      // Error chunks: u32 errno, u16 message length, message, [u64 offset for ERROR_OFFSET].
      const errno = payload.readUInt32BE(0);
      const messageLength = payload.readUInt16BE(4);
      if (errno === 0) throw this.#protocol(`sent an error chunk with errno 0 for ${this.#describe(req)}`);
      if (messageLength > payload.length - 6) throw this.#protocol(`sent an error chunk whose message overruns it for ${this.#describe(req)}`);
      if (type === Reply.ERROR_OFFSET) {
        if (payload.length !== 6 + messageLength + 8) throw this.#protocol(`sent a malformed ERROR_OFFSET chunk for ${this.#describe(req)}`);
        const at = readU64(payload, 6 + messageLength);
        if (!(at >= req.offset && at < req.offset + req.length)) {
          throw this.#protocol(`sent ERROR_OFFSET at ${at}, outside ${this.#describe(req)}`);
        }
      }
      if (req.error === null) {
        const message = printable(payload.subarray(6, 6 + messageLength));
        req.error = { errno, message };
      }
    }
  }
}

function checkConnectOptions(options: NbdConnectOptions): void {
  if (typeof options.exportName !== 'string' || Buffer.byteLength(options.exportName) > Limits.maxString) {
    throw new BovedaError('INVALID_ARGUMENT', `NBD export name must be a string of at most ${Limits.maxString} bytes`);
  }
  const contexts = options.metaContexts ?? [];
  if (new Set(contexts).size !== contexts.length || contexts.some((name) => typeof name !== 'string' || name === '' || Buffer.byteLength(name) > Limits.maxString)) {
    throw new BovedaError('INVALID_ARGUMENT', `NBD metadata contexts must be distinct non-empty strings, got ${JSON.stringify(contexts)}`);
  }
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) throw new BovedaError('INVALID_ARGUMENT', `NBD timeoutMs must be positive, got ${options.timeoutMs}`);
  if (options.maxInFlight !== undefined && !(Number.isInteger(options.maxInFlight) && options.maxInFlight >= 1)) {
    throw new BovedaError('INVALID_ARGUMENT', `NBD maxInFlight must be a positive integer, got ${options.maxInFlight}`);
  }
  if (options.maxRequestBytes !== undefined && !(Number.isInteger(options.maxRequestBytes) && options.maxRequestBytes >= 512)) {
    throw new BovedaError('INVALID_ARGUMENT', `NBD maxRequestBytes must be an integer ≥ 512, got ${options.maxRequestBytes}`);
  }
}

function checkRange(client: NbdClient, what: string, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || offset + length > Number.MAX_SAFE_INTEGER) {
    throw new BovedaError('INVALID_ARGUMENT', `NBD ${what} on export "${client.exportName}": bad range ${offset}+${length}`);
  }
}

/** Opens a transport, runs `body` under the handshake deadline and signal, and closes on failure. */
async function withHandshake<T>(
  open: OpenNbdTransport,
  where: string,
  options: NbdListOptions,
  what: string,
  keepOpen: boolean,
  body: (wire: Wire) => Promise<T>,
): Promise<{ wire: Wire; result: T }> {
  throwIfAborted(options.signal, `${what} at ${where}`);
  const wire = new Wire(where);
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const timer = setTimeout(
    () => wire.fail(new BovedaError('QEMU_TIMEOUT', `NBD server ${where} did not complete the handshake (${what}) within ${timeoutMs} ms`)),
    timeoutMs,
  );
  const onAbort = (): void => wire.fail(new BovedaError('ABORTED', `${what} at ${where} was cancelled`, { cause: options.signal?.reason }));
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { transport, ready } = open(wire.events);
    wire.transport = transport;
    ready.catch(() => undefined);
    await wire.until(ready);
    const result = await body(wire);
    if (wire.failure !== null) throw wire.failure;
    if (!keepOpen) wire.closeGracefully(`${what} at ${where} is done`, abortOption());
    return { wire, result };
  } catch (error) {
    const failure =
      error instanceof BovedaError
        ? error
        : new BovedaError('INTERNAL', `NBD handshake with ${where} failed: ${String(error)}`, { cause: error });
    if (failure.code === 'NBD_REQUEST_FAILED' && wire.failure === null) {
      wire.closeGracefully(failure.message, abortOption()); // tell the server we give up, then close
    } else {
      wire.fail(failure);
    }
    throw failure;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

export type { NbdBlockSize, NbdExportEntry, NbdEndpoint };
