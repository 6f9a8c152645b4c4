/**
 * sources/qemu/nbd: an NBD client (the protocol QEMU exports disks and dirty bitmaps over:
 * qemu-nbd, nbd-server-start + block-export-add). Node built-ins only. Depends on core and util.
 *
 * Concepts
 * - NbdClient.connect(endpoint, { exportName, metaContexts }): the fixed newstyle handshake
 *   (C_FIXED_NEWSTYLE, C_NO_ZEROES when offered), NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT
 *   for the requested contexts (base:allocation, qemu:dirty-bitmap:NAME), then NBD_OPT_GO asking
 *   INFO_BLOCK_SIZE (NBD_OPT_EXPORT_NAME only when the server answers GO with ERR_UNSUP). The client
 *   exposes size, transmission flags, block size constraints and the negotiated context ids.
 * - NbdClient.listMetaContexts / listExports: option-phase queries on a short-lived connection
 *   (prefix "qemu:dirty-bitmap:" lists the exported bitmaps).
 * - Transmission: read / readInto (holes arrive as OFFSET_HOLE and are written as zeros), blockStatus
 *   (one request), extents / allocationExtents / dirtyExtents (async iterables walking ≤ 1 GiB
 *   windows), flush, disconnect (NBD_CMD_DISC, then close) and close.
 * - Pipelining: up to maxInFlight requests on the wire; replies and chunks are matched by cookie and
 *   may come in any order. Reads larger than the server's maximum block size (or maxRequestBytes)
 *   are split and pipelined.
 * - Receive path: the socket's buffers sit in a chunk queue (byte-queue.ts) and data payloads are
 *   copied once, from them into the caller's buffer. u64 fields never go through `<<`.
 *
 * Invariants
 * - Errors are BovedaErrors naming the endpoint, the export and the request:
 *   QEMU_UNREACHABLE (cannot connect; the connection closed: every request in flight fails with it,
 *   and every later one), QEMU_PROTOCOL (anything malformed, unexpected or oversized: bad magic,
 *   unknown cookie, a chunk after DONE, chunks outside the request or not covering it exactly once,
 *   lengths beyond the limits in protocol.ts; the connection is dropped), QEMU_TIMEOUT (the handshake
 *   past its deadline, or a request unanswered within its timeout: the server counts as hung and the
 *   connection is dropped), NBD_REQUEST_FAILED (the server refused an option, e.g. an unknown export
 *   or a metadata context it does not offer, or answered a request with an error: errno and message;
 *   the connection stays usable), ABORTED (the AbortSignal), INVALID_ARGUMENT.
 * - No allocation is sized by the server beyond fixed bounds: option replies ≤ 64 KiB + a name,
 *   data chunks ≤ the request's length, block status chunks ≤ 4 + 8·2^20 bytes, error chunks ≤ 4 KiB
 *   of message, at most 1 MiB buffered ahead during the handshake.
 * - A read either fills its whole target or rejects; after it rejects (error or abort) nothing more is
 *   written into the target (late replies of abandoned requests are parsed and dropped).
 * - Every requested metadata context must come back from the server, or connect fails naming it.
 * - disconnect() and close() are idempotent; after either, every operation fails with QEMU_UNREACHABLE.
 */
export {
  NbdClient,
  blockStatusWindowBytes,
  type NbdConnectOptions,
  type NbdRequestOptions,
  type NbdBlockStatusOptions,
  type NbdExportFlags,
  type NbdExtent,
  type NbdAllocationExtent,
  type NbdRange,
  type NbdListOptions,
  type NbdBlockSize,
  type NbdExportEntry,
  type NbdEndpoint,
} from './client.js';
export { describeEndpoint, type NbdTransport, type NbdTransportEvents, type OpenNbdTransport } from './wire.js';
export { CONTEXT_BASE_ALLOCATION, DIRTY_BITMAP_PREFIX, STATE_HOLE, STATE_ZERO, STATE_DIRTY } from './protocol.js';
