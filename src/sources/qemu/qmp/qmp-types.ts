/**
 * The parts of QEMU's QAPI schema (QEMU 7.2) the backup uses, as TypeScript types. Field names
 * are QEMU's own (kebab-case where QEMU spells them so). Replies may carry more fields than
 * listed here; optional fields are the ones QEMU omits when they do not apply.
 */

export interface QemuVersionTriple {
  major: number;
  minor: number;
  micro: number;
}

/** query-version, and the version in the greeting. */
export interface QemuVersion {
  qemu: QemuVersionTriple;
  package: string;
}

/** The greeting QEMU sends when a client connects. */
export interface QmpGreeting {
  version: QemuVersion;
  capabilities: string[];
}

/** An asynchronous event (STOP, RESUME, BLOCK_JOB_CANCELLED, BLOCK_EXPORT_DELETED, …). */
export interface QmpEvent<D = Record<string, unknown>> {
  event: string;
  data: D;
  timestamp?: { seconds: number; microseconds: number };
}

/** query-status. */
export interface QemuStatus {
  running: boolean;
  /** "running", "paused", "prelaunch", "shutdown", "inmigrate", … */
  status: string;
  singlestep?: boolean;
}

/** A dirty bitmap as query-named-block-nodes (and query-block's inserted node) report it. */
export interface DirtyBitmapInfo {
  /** Bitmap name (QEMU omits it only for anonymous internal bitmaps). */
  name?: string;
  /** Dirty bytes (a multiple of the granularity, clipped at the disk's end). */
  count: number;
  /** Bytes per bit. */
  granularity: number;
  /** Enabled: new writes mark it. */
  recording: boolean;
  /** In use by an operation (an export, a job): cannot be changed now. */
  busy: boolean;
  /** Stored in the qcow2 image when QEMU closes it. */
  persistent: boolean;
  /** QEMU did not close the image cleanly: the bitmap is unusable, only removal works. */
  inconsistent?: boolean;
}

export interface ImageInfo {
  filename: string;
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'cluster-size'?: number;
  'dirty-flag'?: boolean;
  'backing-filename'?: string;
  'format-specific'?: { type: string; data: Record<string, unknown> };
}

/** One block node (query-named-block-nodes entry; query-block's `inserted`). */
export interface BlockDeviceInfo {
  'node-name': string;
  /** Driver: "qcow2", "raw", "file", "snapshot-access", "copy-before-write", … */
  drv: string;
  /** The node's file name (as QEMU describes it, may be a JSON pseudo-protocol name). */
  file: string;
  ro: boolean;
  encrypted: boolean;
  backing_file_depth: number;
  backing_file?: string;
  image: ImageInfo;
  'dirty-bitmaps'?: DirtyBitmapInfo[];
  [key: string]: unknown;
}

/** A query-block entry: a device (front end) and the node inserted into it. */
export interface BlockInfo {
  /** The legacy drive name; "" for devices made with -blockdev + -device. */
  device: string;
  /** The device's QOM path, e.g. "/machine/peripheral/vda/virtio-backend". */
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
  'io-status'?: string;
  [key: string]: unknown;
}

/** query-block-jobs. */
export interface BlockJobInfo {
  type: string;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  ready: boolean;
  /** "created", "running", "paused", "ready", "standby", "waiting", "pending", "aborting", "concluded", "null" */
  status: string;
  'auto-finalize': boolean;
  'auto-dismiss': boolean;
  error?: string;
  [key: string]: unknown;
}

/** A bitmap named by node: the form block-dirty-bitmap-merge and block-export-add accept. */
export interface BlockDirtyBitmapRef {
  node: string;
  name: string;
}

export interface BlockDirtyBitmapAddArgs {
  node: string;
  name: string;
  /** A power of two ≥ 512; QEMU's default is the cluster size clamped to 4–64 KiB. */
  granularity?: number;
  persistent?: boolean;
  disabled?: boolean;
}

export interface BlockDirtyBitmapMergeArgs {
  node: string;
  target: string;
  /** Names of bitmaps on `node`, or bitmaps on other nodes. */
  bitmaps: (string | BlockDirtyBitmapRef)[];
}

export type BitmapSyncMode = 'on-success' | 'never' | 'always';

export interface BlockdevBackupArgs {
  'job-id'?: string;
  /** The source node (or device). */
  device: string;
  /** The target node (must exist: blockdev-add it first). */
  target: string;
  sync: 'full' | 'top' | 'none' | 'incremental' | 'bitmap';
  bitmap?: string;
  'bitmap-mode'?: BitmapSyncMode;
  /** Names the copy-before-write filter node (used with snapshot-access). */
  'filter-node-name'?: string;
  compress?: boolean;
  speed?: number;
  'on-source-error'?: 'report' | 'ignore' | 'enospc' | 'stop' | 'auto';
  'on-target-error'?: 'report' | 'ignore' | 'enospc' | 'stop' | 'auto';
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
  'x-perf'?: Record<string, unknown>;
}

/** The transaction actions the backup uses (QEMU accepts a few more). */
export type TransactionAction =
  | { type: 'block-dirty-bitmap-add'; data: BlockDirtyBitmapAddArgs }
  | { type: 'block-dirty-bitmap-remove'; data: BlockDirtyBitmapRef }
  | { type: 'block-dirty-bitmap-clear'; data: BlockDirtyBitmapRef }
  | { type: 'block-dirty-bitmap-enable'; data: BlockDirtyBitmapRef }
  | { type: 'block-dirty-bitmap-disable'; data: BlockDirtyBitmapRef }
  | { type: 'block-dirty-bitmap-merge'; data: BlockDirtyBitmapMergeArgs }
  | { type: 'blockdev-backup'; data: BlockdevBackupArgs }
  /** Fails the transaction on purpose (tests). */
  | { type: 'abort'; data: Record<string, never> };

export interface TransactionProperties {
  /** "grouped": one failing job cancels the others (only for jobs started in the transaction). */
  'completion-mode'?: 'individual' | 'grouped';
}

/**
 * blockdev-add options: a tree QEMU validates (driver-specific). Typed loosely on purpose:
 * `driver` and `node-name` are required for nodes the backup adds.
 */
export interface BlockdevOptions {
  driver: string;
  'node-name': string;
  [key: string]: unknown;
}

export type SocketAddress =
  | { type: 'unix'; path: string }
  | { type: 'inet'; host: string; port: string }
  | { type: 'fd'; str: string };

export interface NbdServerStartArgs {
  /** QMP's legacy form for nbd-server-start: {type, data}. */
  addr: { type: 'unix'; data: { path: string } } | { type: 'inet'; data: { host: string; port: string } };
  'tls-creds'?: string;
  'tls-authz'?: string;
  'max-connections'?: number;
}

export interface BlockExportAddNbdArgs {
  type: 'nbd';
  id: string;
  'node-name': string;
  /** The export name clients ask for (defaults to the node name). */
  name?: string;
  description?: string;
  writable?: boolean;
  writethrough?: boolean;
  /** Dirty bitmaps to expose as qemu:dirty-bitmap:NAME meta contexts (must not be recording). */
  bitmaps?: (string | BlockDirtyBitmapRef)[];
  'allocation-depth'?: boolean;
  iothread?: string;
  'fixed-iothread'?: boolean;
}

export interface BlockExportInfo {
  id: string;
  type: string;
  'node-name': string;
  'shutting-down': boolean;
}
