import { BovedaError } from '../../../core/errors.js';
import {
  encodeGo,
  encodeMetaContextQuery,
  encodeOption,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  Info,
  Limits,
  NBD_MAGIC,
  OLDSTYLE_MAGIC,
  Opt,
  optionNames,
  optionReplyErrorName,
  OPTION_REPLY_MAGIC,
  printable,
  readU64,
  Rep,
  REP_ERR_UNKNOWN,
  REP_ERR_UNSUP,
  REP_ERROR_BIT,
  DIRTY_BITMAP_PREFIX,
} from './protocol.js';
import type { Wire } from './wire.js';

/** Block size constraints of an export (INFO_BLOCK_SIZE, or the protocol's defaults). */
export interface NbdBlockSize {
  minimum: number;
  preferred: number;
  maximum: number;
}

export interface Negotiated {
  size: number;
  transmissionFlags: number;
  blockSize: NbdBlockSize;
  structuredReplies: boolean;
  metaContexts: Map<string, number>;
  /** How the export was selected: NBD_OPT_GO, or the EXPORT_NAME fallback (server without GO). */
  via: 'go' | 'export-name';
}

/** The protocol's defaults when the server sends no INFO_BLOCK_SIZE. */
export const defaultBlockSize: NbdBlockSize = { minimum: 1, preferred: 4096, maximum: 32 * 1024 * 1024 };

export function protocolError(wire: Wire, what: string): BovedaError {
  return new BovedaError('QEMU_PROTOCOL', `NBD server ${wire.where} ${what}; connection dropped`);
}

interface Greeting {
  noZeroes: boolean;
}

/** Reads the server's greeting and answers with the client flags. */
export async function greet(wire: Wire): Promise<Greeting> {
  const hello = await wire.read(18);
  if (hello.readBigUInt64BE(0) !== NBD_MAGIC) {
    throw protocolError(wire, `is not an NBD server (greeting starts 0x${hello.subarray(0, 8).toString('hex')}, expected NBDMAGIC)`);
  }
  const second = hello.readBigUInt64BE(8);
  if (second === OLDSTYLE_MAGIC) throw protocolError(wire, 'speaks the oldstyle handshake, which is not supported (only fixed newstyle)');
  if (second !== IHAVEOPT) throw protocolError(wire, `sent 0x${second.toString(16)} where IHAVEOPT was expected`);
  const flags = hello.readUInt16BE(16);
  if ((flags & FLAG_FIXED_NEWSTYLE) === 0) throw protocolError(wire, 'does not offer the fixed newstyle handshake');
  const noZeroes = (flags & FLAG_NO_ZEROES) !== 0;
  const reply = Buffer.alloc(4);
  reply.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0), 0);
  wire.write(reply);
  return { noZeroes };
}

interface OptionReply {
  type: number;
  data: Buffer;
}

async function readOptionReply(wire: Wire, option: number): Promise<OptionReply> {
  const header = await wire.read(20);
  const name = optionNames[option] ?? `option ${option}`;
  if (header.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) {
    throw protocolError(wire, `sent a reply to ${name} with bad magic 0x${header.subarray(0, 8).toString('hex')}`);
  }
  const echoed = header.readUInt32BE(8);
  if (echoed !== option) throw protocolError(wire, `answered ${name} with a reply for option ${echoed}`);
  const type = header.readUInt32BE(12);
  const length = header.readUInt32BE(16);
  if (length > Limits.maxOptionReply) {
    throw protocolError(wire, `announced a ${length}-byte reply to ${name} (limit ${Limits.maxOptionReply})`);
  }
  return { type, data: await wire.read(length) };
}

function isError(type: number): boolean {
  return type >= REP_ERROR_BIT;
}

function errorText(data: Buffer): string {
  const text = printable(data);
  return text === '' ? '' : `: ${text}`;
}

export function optionFailed(wire: Wire, exportName: string, option: number, reply: OptionReply): BovedaError {
  const name = optionNames[option] ?? `option ${option}`;
  const error = optionReplyErrorName(reply.type);
  const hint = reply.type === REP_ERR_UNKNOWN ? ` (export "${exportName}" is not present)` : '';
  return new BovedaError(
    'NBD_REQUEST_FAILED',
    `NBD server ${wire.where} refused ${name} for export "${exportName}" with ${error}${hint}${errorText(reply.data)}`,
    { details: { endpoint: wire.where, exportName, option: name, error } },
  );
}

function unexpectedReply(wire: Wire, option: number, reply: OptionReply): BovedaError {
  return protocolError(wire, `sent reply type ${reply.type} (${reply.data.length} bytes) to ${optionNames[option] ?? option}, which does not allow it`);
}

async function forEachReply(wire: Wire, option: number, onReply: (reply: OptionReply) => boolean): Promise<void> {
  for (let count = 0; count < Limits.maxOptionReplies; count++) {
    const reply = await readOptionReply(wire, option);
    if (onReply(reply)) return;
  }
  throw protocolError(wire, `sent more than ${Limits.maxOptionReplies} replies to ${optionNames[option]}`);
}

/** Parses a META_CONTEXT reply: u32 id + name. */
function metaContextReply(wire: Wire, reply: OptionReply): { id: number; name: string } {
  if (reply.data.length < 5 || reply.data.length > 4 + Limits.maxString) {
    throw protocolError(wire, `sent a malformed META_CONTEXT reply (${reply.data.length} bytes)`);
  }
  return { id: reply.data.readUInt32BE(0), name: reply.data.subarray(4).toString('utf8') };
}

export interface HandshakeOptions {
  exportName: string;
  metaContexts: readonly string[];
}

/** The whole handshake for the transmission phase: structured replies, meta contexts, GO. */
export async function negotiate(wire: Wire, options: HandshakeOptions): Promise<Negotiated> {
  const { exportName, metaContexts } = options;
  const { noZeroes } = await greet(wire);

  wire.write(encodeOption(Opt.STRUCTURED_REPLY));
  let structuredReplies = false;
  await forEachReply(wire, Opt.STRUCTURED_REPLY, (reply) => {
    if (reply.type === Rep.ACK) structuredReplies = true;
    else if (!isError(reply.type)) throw unexpectedReply(wire, Opt.STRUCTURED_REPLY, reply);
    return true;
  });

  const contexts = new Map<string, number>();
  if (metaContexts.length > 0) {
    if (!structuredReplies) {
      throw new BovedaError(
        'NBD_REQUEST_FAILED',
        `NBD server ${wire.where} does not support structured replies, so export "${exportName}" cannot report ${metaContexts.join(', ')}`,
        { details: { endpoint: wire.where, exportName, option: 'NBD_OPT_STRUCTURED_REPLY' } },
      );
    }
    wire.write(encodeOption(Opt.SET_META_CONTEXT, encodeMetaContextQuery(exportName, metaContexts)));
    const ids = new Set<number>();
    await forEachReply(wire, Opt.SET_META_CONTEXT, (reply) => {
      if (reply.type === Rep.ACK) return true;
      if (isError(reply.type)) throw optionFailed(wire, exportName, Opt.SET_META_CONTEXT, reply);
      if (reply.type !== Rep.META_CONTEXT) throw unexpectedReply(wire, Opt.SET_META_CONTEXT, reply);
      const { id, name } = metaContextReply(wire, reply);
      if (!metaContexts.includes(name)) throw protocolError(wire, `selected metadata context "${name}", which was not requested`);
      if (contexts.has(name) || ids.has(id)) throw protocolError(wire, `selected metadata context "${name}" (id ${id}) twice`);
      contexts.set(name, id);
      ids.add(id);
      return false;
    });
    for (const name of metaContexts) {
      if (contexts.has(name)) continue;
      const hint = name.startsWith(DIRTY_BITMAP_PREFIX)
        ? ` (no dirty bitmap "${name.slice(DIRTY_BITMAP_PREFIX.length)}" is exported: qemu-nbd -B NAME, or block-export-add with "bitmaps")`
        : '';
      throw new BovedaError(
        'NBD_REQUEST_FAILED',
        `NBD export "${exportName}" at ${wire.where} does not offer metadata context "${name}"${hint}`,
        { details: { endpoint: wire.where, exportName, option: 'NBD_OPT_SET_META_CONTEXT', context: name } },
      );
    }
  }

  wire.write(encodeOption(Opt.GO, encodeGo(exportName, [Info.BLOCK_SIZE])));
  let exportInfo: { size: number; flags: number } | null = null;
  let blockSize: NbdBlockSize = defaultBlockSize;
  let unsupported = false;
  await forEachReply(wire, Opt.GO, (reply) => {
    if (reply.type === Rep.ACK) return true;
    if (reply.type === REP_ERR_UNSUP) {
      unsupported = true;
      return true;
    }
    if (isError(reply.type)) throw optionFailed(wire, exportName, Opt.GO, reply);
    if (reply.type !== Rep.INFO) throw unexpectedReply(wire, Opt.GO, reply);
    if (reply.data.length < 2) throw protocolError(wire, 'sent an INFO reply without an information type');
    const info = reply.data.readUInt16BE(0);
    if (info === Info.EXPORT) {
      if (reply.data.length !== 12) throw protocolError(wire, `sent an INFO_EXPORT of ${reply.data.length} bytes (expected 12)`);
      exportInfo = { size: exportSize(wire, reply.data, 2), flags: reply.data.readUInt16BE(10) };
    } else if (info === Info.BLOCK_SIZE) {
      if (reply.data.length !== 14) throw protocolError(wire, `sent an INFO_BLOCK_SIZE of ${reply.data.length} bytes (expected 14)`);
      blockSize = checkBlockSize(wire, {
        minimum: reply.data.readUInt32BE(2),
        preferred: reply.data.readUInt32BE(6),
        maximum: reply.data.readUInt32BE(10),
      });
    }
    return false;
  });

  if (unsupported) {
    // A server without GO: EXPORT_NAME answers size and flags, or closes the connection when the export is unknown.
    wire.write(encodeOption(Opt.EXPORT_NAME, Buffer.from(exportName, 'utf8')));
    let reply: Buffer;
    try {
      reply = await wire.read(noZeroes ? 10 : 134);
    } catch (error) {
      if (error instanceof BovedaError && error.code === 'QEMU_UNREACHABLE') {
        throw new BovedaError(
          'NBD_REQUEST_FAILED',
          `NBD server ${wire.where} closed the connection on NBD_OPT_EXPORT_NAME: export "${exportName}" is probably not present`,
          { cause: error, details: { endpoint: wire.where, exportName, option: 'NBD_OPT_EXPORT_NAME' } },
        );
      }
      throw error;
    }
    return {
      size: exportSize(wire, reply, 0),
      transmissionFlags: reply.readUInt16BE(8),
      blockSize: defaultBlockSize,
      structuredReplies,
      metaContexts: contexts,
      via: 'export-name',
    };
  }
  const found = exportInfo as { size: number; flags: number } | null;
  if (found === null) throw protocolError(wire, `acknowledged NBD_OPT_GO for export "${exportName}" without sending INFO_EXPORT`);
  return { size: found.size, transmissionFlags: found.flags, blockSize, structuredReplies, metaContexts: contexts, via: 'go' };
}

function exportSize(wire: Wire, data: Buffer, at: number): number {
  const size = readU64(data, at);
  if (!Number.isSafeInteger(size)) throw protocolError(wire, 'announced an export size beyond 2^53 bytes');
  return size;
}

function isPowerOfTwo(value: number): boolean {
  return value > 0 && (value & (value - 1)) === 0;
}

function checkBlockSize(wire: Wire, size: NbdBlockSize): NbdBlockSize {
  const { minimum, preferred, maximum } = size;
  const sane =
    isPowerOfTwo(minimum) &&
    minimum <= 64 * 1024 &&
    isPowerOfTwo(preferred) &&
    preferred >= minimum &&
    maximum >= minimum &&
    maximum % minimum === 0;
  if (!sane) throw protocolError(wire, `sent impossible block size constraints (minimum ${minimum}, preferred ${preferred}, maximum ${maximum})`);
  return size;
}

/** NBD_OPT_LIST_META_CONTEXT: the context names matching `queries` (none: every context). */
export async function listMetaContexts(wire: Wire, exportName: string, queries: readonly string[]): Promise<string[]> {
  await greet(wire);
  // Some servers only list contexts once structured replies are on; the answer itself does not matter.
  wire.write(encodeOption(Opt.STRUCTURED_REPLY));
  await readOptionReply(wire, Opt.STRUCTURED_REPLY);
  wire.write(encodeOption(Opt.LIST_META_CONTEXT, encodeMetaContextQuery(exportName, queries)));
  const names: string[] = [];
  await forEachReply(wire, Opt.LIST_META_CONTEXT, (reply) => {
    if (reply.type === Rep.ACK) return true;
    if (isError(reply.type)) throw optionFailed(wire, exportName, Opt.LIST_META_CONTEXT, reply);
    if (reply.type !== Rep.META_CONTEXT) throw unexpectedReply(wire, Opt.LIST_META_CONTEXT, reply);
    names.push(metaContextReply(wire, reply).name);
    return false;
  });
  return names;
}

export interface NbdExportEntry {
  name: string;
  description: string;
}

/** NBD_OPT_LIST: the exports the server admits to. */
export async function listExports(wire: Wire): Promise<NbdExportEntry[]> {
  await greet(wire);
  wire.write(encodeOption(Opt.LIST));
  const exports: NbdExportEntry[] = [];
  await forEachReply(wire, Opt.LIST, (reply) => {
    if (reply.type === Rep.ACK) return true;
    if (isError(reply.type)) throw optionFailed(wire, '', Opt.LIST, reply);
    if (reply.type !== Rep.SERVER) throw unexpectedReply(wire, Opt.LIST, reply);
    const data = reply.data;
    if (data.length < 4) throw protocolError(wire, `sent a malformed SERVER reply (${data.length} bytes)`);
    const nameLength = data.readUInt32BE(0);
    if (nameLength > data.length - 4) throw protocolError(wire, `sent a SERVER reply whose name (${nameLength} bytes) overruns it`);
    exports.push({
      name: data.subarray(4, 4 + nameLength).toString('utf8'),
      description: data.subarray(4 + nameLength).toString('utf8'),
    });
    return false;
  });
  return exports;
}

export const abortOption = (): Buffer => encodeOption(Opt.ABORT);
