/**
 * NBD wire constants and encoders (fixed newstyle handshake, simple and structured replies).
 * Reference: the NBD protocol document (doc/proto.md of NetworkBlockDevice/nbd). All integers are
 * big-endian; 64-bit values go through BigInt or `hi * 2 ** 32 + lo`, never `<<`.
 */

export const NBD_MAGIC = 0x4e42444d41474943n; // "NBDMAGIC"
export const IHAVEOPT = 0x49484156454f5054n; // "IHAVEOPT"
export const OLDSTYLE_MAGIC = 0x0000_4202_8186_1253n;
export const OPTION_REPLY_MAGIC = 0x0003_e889_0455_65a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags (server) and client flags. */
export const FLAG_FIXED_NEWSTYLE = 1;
export const FLAG_NO_ZEROES = 2;

export const Opt = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
} as const;

export const Rep = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
} as const;

export const REP_ERROR_BIT = 0x8000_0000;
const repErrorNames: Record<number, string> = {
  1: 'ERR_UNSUP',
  2: 'ERR_POLICY',
  3: 'ERR_INVALID',
  4: 'ERR_PLATFORM',
  5: 'ERR_TLS_REQD',
  6: 'ERR_UNKNOWN',
  7: 'ERR_SHUTDOWN',
  8: 'ERR_BLOCK_SIZE_REQD',
  9: 'ERR_TOO_BIG',
  10: 'ERR_EXT_HEADER_REQD',
};
export const REP_ERR_UNSUP = REP_ERROR_BIT + 1;
export const REP_ERR_UNKNOWN = REP_ERROR_BIT + 6;

export function optionReplyErrorName(type: number): string {
  return repErrorNames[type - REP_ERROR_BIT] ?? `error 0x${type.toString(16)}`;
}

export const Info = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const;

/** Transmission flags (u16, INFO_EXPORT or EXPORT_NAME reply). */
export const TransmissionFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

export const Cmd = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

export const CMD_FLAG_REQ_ONE = 1 << 3;

export const Reply = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;
export const REPLY_FLAG_DONE = 1;
export const REPLY_TYPE_ERROR_BIT = 0x8000;

/** base:allocation status bits. */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
/** qemu:dirty-bitmap:NAME status bit. */
export const STATE_DIRTY = 1;

export const CONTEXT_BASE_ALLOCATION = 'base:allocation';
export const DIRTY_BITMAP_PREFIX = 'qemu:dirty-bitmap:';

const errnoNames: Record<number, string> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN',
};
export function errnoName(errno: number): string {
  return errnoNames[errno] ?? `errno ${errno}`;
}

export const commandNames: Record<number, string> = {
  0: 'READ',
  1: 'WRITE',
  2: 'DISC',
  3: 'FLUSH',
  4: 'TRIM',
  5: 'CACHE',
  6: 'WRITE_ZEROES',
  7: 'BLOCK_STATUS',
};
export const optionNames: Record<number, string> = {
  1: 'NBD_OPT_EXPORT_NAME',
  2: 'NBD_OPT_ABORT',
  3: 'NBD_OPT_LIST',
  6: 'NBD_OPT_INFO',
  7: 'NBD_OPT_GO',
  8: 'NBD_OPT_STRUCTURED_REPLY',
  9: 'NBD_OPT_LIST_META_CONTEXT',
  10: 'NBD_OPT_SET_META_CONTEXT',
};

/** Limits that keep a hostile or broken server from making the client allocate without bound. */
export const Limits = {
  /** Strings (export names, context names, messages): the protocol's maximum. */
  maxString: 4096,
  /** One option reply's payload: 64 KiB plus room for a name. */
  maxOptionReply: 64 * 1024 + 4096 + 8,
  /** Option replies to one option before the client gives up (e.g. LIST on a server with many exports). */
  maxOptionReplies: 100_000,
  /** A structured error chunk: errno + length + message (≤ 4096) + offset. */
  maxErrorChunk: 4 + 2 + 4096 + 8,
  /** A block status chunk: context id + at most 2^20 extents (the protocol's recommended bound). */
  maxBlockStatusChunk: 4 + 8 * 2 ** 20,
  /** Bytes a server may send ahead during the handshake before the client reads them. */
  maxHandshakeBacklog: 1024 * 1024,
} as const;

const u32max = 0xffff_ffff;

export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.allocUnsafe(16 + data.length);
  out.writeBigUInt64BE(IHAVEOPT, 0);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(data.length, 12);
  out.set(data, 16);
  return out;
}

export function encodeString(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, 4);
  return out;
}

/** Payload of SET_META_CONTEXT / LIST_META_CONTEXT: export name, then the queries. */
export function encodeMetaContextQuery(exportName: string, queries: readonly string[]): Buffer {
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(queries.length, 0);
  return Buffer.concat([encodeString(exportName), count, ...queries.map(encodeString)]);
}

/** Payload of GO / INFO: export name, then the information requests (u16 each). */
export function encodeGo(exportName: string, infos: readonly number[]): Buffer {
  const tail = Buffer.allocUnsafe(2 + 2 * infos.length);
  tail.writeUInt16BE(infos.length, 0);
  infos.forEach((info, i) => tail.writeUInt16BE(info, 2 + 2 * i));
  return Buffer.concat([encodeString(exportName), tail]);
}

export function encodeRequest(flags: number, type: number, cookie: number, offset: number, length: number): Buffer {
  if (length < 0 || length > u32max) throw new RangeError(`NBD request length ${length} out of u32 range`);
  const out = Buffer.allocUnsafe(28);
  out.writeUInt32BE(REQUEST_MAGIC, 0);
  out.writeUInt16BE(flags, 4);
  out.writeUInt16BE(type, 6);
  writeU64(out, 8, cookie);
  writeU64(out, 16, offset);
  out.writeUInt32BE(length, 24);
  return out;
}

/** Writes a non-negative safe integer as u64 (two u32 halves: no `<<`, no BigInt on the hot path). */
export function writeU64(target: Buffer, at: number, value: number): void {
  const hi = Math.floor(value / 2 ** 32);
  target.writeUInt32BE(hi, at);
  target.writeUInt32BE(value - hi * 2 ** 32, at + 4);
}

/** Reads a u64; values above 2^53 come back as Infinity so that range checks fail instead of rounding. */
export function readU64(source: Buffer, at: number): number {
  const hi = source.readUInt32BE(at);
  const lo = source.readUInt32BE(at + 4);
  if (hi >= 2 ** 21) return Number.POSITIVE_INFINITY;
  return hi * 2 ** 32 + lo;
}

/** A server's string made safe for a message: control characters become spaces. */
export function printable(bytes: Uint8Array): string {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, Limits.maxString)).toString('utf8');
  let out = '';
  for (const char of text) out += char.charCodeAt(0) < 0x20 || char === '\u007f' ? ' ' : char;
  return out.trim();
}
