/**
 * sources/qemu/qmp: clients for QEMU's two JSON control channels, written against QEMU 7.2.
 * Node built-ins only; depends on core (errors) and nothing else.
 *
 * Concepts
 * - QmpClient (qmp-client.ts): the QMP monitor of a running QEMU (`-qmp unix:PATH,server=on,wait=off`
 *   or a second `-chardev socket … -mon chardev=…,mode=control` for the backup tool). connect()
 *   reads the greeting (version, capabilities) and negotiates capabilities (no OOB). execute()
 *   sends `{"execute", "arguments", "id"}` with a fresh id; replies are matched by id, so commands
 *   may be in flight together. Events (STOP, RESUME, BLOCK_JOB_CANCELLED, BLOCK_EXPORT_DELETED, …)
 *   interleave with replies and go to on() listeners and to armed waits (waitForEvent). Typed
 *   helpers cover what the backup needs: block devices and nodes, dirty bitmaps, transaction,
 *   blockdev-add/-del, the NBD server and exports, block jobs, HMP, status, quit.
 * - GuestAgentClient (guest-agent-client.ts): the guest agent (qemu-ga) behind a virtio-serial
 *   chardev socket. It has no greeting and may never answer (no agent in the guest): every call
 *   has a timeout, calls run one at a time, and the client resynchronises (0xFF + guest-sync-
 *   delimited with a random id, discarding input up to that reply) before its first call and
 *   after any call that timed out or was cancelled. ping, info, fsfreeze status/freeze/thaw,
 *   exec + execStatus, and run() (exec, poll until exited, decode base64 output).
 * - LineChannel / LineDecoder (channel.ts, line-decoder.ts): line framing shared by both.
 *
 * Invariants
 * - Framing: one JSON object per "\n"-terminated line; partial lines across chunks and several
 *   lines per chunk are handled; a line longer than maxLineBytes (16 MiB by default) is
 *   QEMU_PROTOCOL before it is buffered, so memory per connection stays bounded.
 * - Errors are BovedaErrors of these codes only:
 *   QEMU_UNREACHABLE: connect failed (the message names the socket path) or the connection closed;
 *     every pending command and wait fails with it, none hangs.
 *   QEMU_PROTOCOL: the peer sent something malformed (not JSON, not an object, no greeting first,
 *     a reply without id or to an id never sent, a malformed error body, an oversized line);
 *     the connection is dropped and everything pending fails with this error.
 *   QEMU_TIMEOUT: no reply/event in time; the connection stays usable (a late reply is dropped).
 *   QMP_COMMAND_FAILED: an error reply; the message names the command (QMP or guest) and carries
 *     QEMU's class and desc; details { command, errorClass, desc, endpoint }.
 *   ABORTED: the caller's AbortSignal fired (QEMU may still carry out a command already sent).
 *   INVALID_ARGUMENT: bad timeouts, empty command names, arguments that are not JSON.
 *   DISK_NOT_FOUND: queryNodeDirtyBitmaps for a node QEMU does not have.
 * - Unknown reply ids: the id of a command that timed out or was cancelled is remembered (up to
 *   1024) and its late reply is ignored; any other unknown id means client and QEMU are out of
 *   step: QEMU_PROTOCOL. (The guest agent instead discards replies whose id is not the current
 *   call's: it resynchronises anyway.)
 * - Reply shapes: queryBlock, blockDeviceNodes, queryNamedBlockNodes and the dirty-bitmap queries
 *   check the fields they rely on (QEMU_PROTOCOL otherwise; the connection stays open); run()
 *   checks guest-exec-status. Other helpers return QEMU's value as typed, unchecked.
 * - QEMU 7.2 facts the tests pin: the -qmp socket serves one client at a time (a second one gets
 *   no greeting until the first leaves); HMP qemu-io prints its report on QEMU's stdout and the
 *   reply is ""; -blockdev/-device setups have device "" in query-block (use qdev/node-name);
 *   qemu-ga answers the 0xFF with a parse error (no id) before the delimited sync reply, echoes
 *   "id", and reports blocked commands as CommandNotFound "has been disabled".
 * - Events are never missed by a wait armed before the command that causes them:
 *   `const w = qmp.waitForEvent(NAME, pred); await qmp.execute(…); await w;` (cancel() it when
 *   the command fails). blockExportDel and blockJobCancel do exactly that.
 * - close() is idempotent; after it (or after any connection failure) every call fails fast.
 * - Nothing here freezes anything by itself: fsfreezeFreeze is only sent when a caller asks,
 *   and callers must thaw in a finally (with a timeout of its own).
 */
export {
  QmpClient,
  QmpEventWait,
  defaultCommandTimeoutMs,
  defaultConnectTimeoutMs,
  type BlockDeviceNode,
  type QmpCallOptions,
  type QmpConnectOptions,
  type QmpEventListener,
  type QmpOpenOptions,
} from './qmp-client.js';
export {
  GuestAgentClient,
  defaultGuestAgentTimeoutMs,
  type GuestAgentConnectOptions,
  type GuestAgentInfo,
  type GuestAgentOpenOptions,
  type GuestCallOptions,
  type GuestExecOptions,
  type GuestExecStatus,
  type GuestFsfreezeStatus,
  type GuestRunOptions,
  type GuestRunResult,
} from './guest-agent-client.js';
export { defaultMaxLineBytes } from './line-decoder.js';
export type * from './qmp-types.js';
