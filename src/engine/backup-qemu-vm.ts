import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { BovedaError, describeError } from '../core/index.js';
import { allOrCancel } from '../util/index.js';
import type { ManifestDisk, PointManifest } from '../repository/index.js';
import { VaultWriter, type Vault } from '../repository/index.js';
import {
  GuestAgentClient, NbdClient, QmpClient, CONTEXT_BASE_ALLOCATION, DIRTY_BITMAP_PREFIX,
  type BlockDeviceNode, type TransactionAction,
} from '../sources/index.js';
import { asVmBusy, DEFAULT_SCRIPT_TIMEOUT_SECONDS, latestPoint, vmLockScope, type BackupOptions, type BackupResult, type BackupSubject, type BackupDiskSpec } from './backup-vm.js';
import { commitBackupPoint, withCleanupProblems } from './backup-point.js';
import type { ChangeDetection, Consistency, DiskMeta } from './point-meta.js';
import {
  CHECKPOINT_PREFIX, QEMU_OBJECT_PREFIX, checkpointGranularity, decideChangeDetection, detectionWarning, writeNbdDisk,
  type CheckpointBitmapState,
} from './qemu-disk.js';
import { runScript } from './run-script.js';

const run = promisify(execFile);

export { CHECKPOINT_PREFIX, QEMU_OBJECT_PREFIX } from './qemu-disk.js';

export interface QemuBackupOptions extends BackupOptions {
  /** 'snapshot-access' (QEMU ≥ 7.1) or a qcow2 overlay; default: by QEMU's version. */
  fleecing?: 'snapshot-access' | 'overlay';
  /** Bound of each guest-agent call (default 10 s; freeze and thaw included). */
  guestAgentTimeoutMs?: number;
  /** Bound of each QMP command (default 30 s). */
  qmpTimeoutMs?: number;
  /** Tests: runs once the point in time is fixed and the exports are up, before any disk is read. */
  afterSnapshot?: () => Promise<void> | void;
}

/** A disk as QEMU runs it: its node and current state. */
interface DiskPlan {
  spec: BackupDiskSpec;
  device: BlockDeviceNode;
  node: string;
  sizeBytes: number;
  parentDisk: ManifestDisk | undefined;
  detection: ChangeDetection;
  note: string | null;
  /** The previous point's checkpoint bitmap when it is usable (bitmap detection). */
  previous: CheckpointBitmapState | null;
  /** The checkpoint this backup starts, or null (raw). */
  checkpoint: string | null;
  granularity: number | null;
  tempBitmap: string | null;
  fleeceNode: string;
  fleeceFile: string;
  jobId: string;
  filterNode: string | null;
  snapNode: string | null;
  exportId: string;
}

/** What exists in QEMU right now, for cleanup in reverse order. */
interface Created {
  fleeceNodes: string[];
  jobs: string[];
  snapNodes: string[];
  exports: string[];
  tempBitmaps: Array<{ node: string; name: string }>;
  checkpoints: Array<{ node: string; name: string }>;
  nbdServer: boolean;
}

/**
 * Backs up a running QEMU VM into one recovery point, all disks at one point in time (one QMP
 * transaction with fleecing), read over NBD. Per disk, changes are found by the previous point's
 * checkpoint dirty bitmap when it is usable, else by checksum comparison (the reason recorded).
 * Order: VM lock → QMP (+ guest agent) → plan → pre-script → fleece targets → freeze → transaction
 * → thaw → post-script → NBD exports → read → commit → cleanup → rotate checkpoints. On failure
 * or cancel nothing is committed, the new checkpoints are removed and the old ones kept; every
 * QEMU object created is removed in every case (problems become cleanupProblems).
 */
export async function backupQemuVm(vault: Vault, subject: BackupSubject, options: QemuBackupOptions = {}): Promise<BackupResult> {
  const qemu = subject.qemu;
  if (!qemu) throw new BovedaError('INVALID_ARGUMENT', `VM "${subject.name}" is not a QEMU VM (it has no QMP socket)`);
  const disks = subject.disks.filter((disk) => disk.role !== 'temp');
  if (disks.length === 0) throw new BovedaError('INVALID_ARGUMENT', `VM "${subject.name}" has no disk to back up (temp disks are never backed up)`);
  const started = performance.now();
  const qmpTimeoutMs = options.qmpTimeoutMs ?? 30_000;
  const call = { timeoutMs: qmpTimeoutMs };
  let writer: VaultWriter;
  try {
    writer = await VaultWriter.open(vault, { purpose: `a backup of VM "${subject.name}"`, scope: vmLockScope(subject.name), waitMs: options.waitMs, signal: options.signal });
  } catch (error) {
    throw asVmBusy(error, subject.name);
  }
  const warnings: string[] = [];
  const cleanupProblems: string[] = [];
  let qmp: QmpClient | undefined;
  let workDir: string | undefined;
  const created: Created = { fleeceNodes: [], jobs: [], snapNodes: [], exports: [], tempBitmaps: [], checkpoints: [], nbdServer: false };
  let committed = false;
  try {
    const parent = await latestPoint(vault, subject.name, options.signal);
    qmp = await QmpClient.connect(qemu.qmpSocket, { signal: options.signal, commandTimeoutMs: qmpTimeoutMs });
    const version = qmp.greeting.version.qemu;
    const fleecing = options.fleecing ?? (version.major > 7 || (version.major === 7 && version.minor >= 1) ? 'snapshot-access' : 'overlay');
    const blockSize = vault.config.blockSize;
    const tag = randomBytes(4).toString('hex');
    workDir = await mkdtemp(join(tmpdir(), 'boveda-qemu-'));

    const plans = planDisks(disks, await qmp.blockDeviceNodes(call), parent, blockSize, tag, workDir, fleecing);

    // Consistency: host pre-script, then (with an agent) freeze only around the transaction.
    const scriptEnv = { BOVEDA_VM: subject.name, BOVEDA_DISKS: disks.map((disk) => disk.path).join('\n') };
    const timeoutSeconds = subject.scriptTimeoutSeconds ?? DEFAULT_SCRIPT_TIMEOUT_SECONDS;
    const agentTimeoutMs = options.guestAgentTimeoutMs ?? 10_000;
    // One agent connection for the guest scripts and the freeze, opened on first need.
    let agentOpening: Promise<GuestAgentClient | undefined> | undefined;
    const guestAgent = () => (agentOpening ??= qemu.guestAgentSocket ? connectAgent(qemu.guestAgentSocket, agentTimeoutMs, warnings) : Promise.resolve(undefined));
    // A script written "guest:COMMAND" runs inside the guest through the agent (guest-exec of
    // /bin/sh -c COMMAND); any other runs on the host, as for image files.
    const runVmScript = async (script: string, phase: 'pre' | 'post', signal?: AbortSignal) => {
      if (!script.startsWith(GUEST_SCRIPT_PREFIX)) return runScript(script, { timeoutSeconds, env: { ...scriptEnv, BOVEDA_PHASE: phase }, signal });
      const agent = await guestAgent();
      if (!agent) return { ok: false, problem: 'no guest agent answers to run it in the guest' };
      try {
        const result = await agent.run('/bin/sh', ['-c', script.slice(GUEST_SCRIPT_PREFIX.length)], { timeoutMs: timeoutSeconds * 1000, signal, env: [`BOVEDA_VM=${subject.name}`, `BOVEDA_PHASE=${phase}`] });
        if (result.exitCode === 0) return { ok: true, problem: null };
        const tail = Buffer.concat([result.stdout, result.stderr]).toString('utf8').trim().slice(-400);
        return { ok: false, problem: `${result.exitCode === undefined ? `killed by signal ${result.signal}` : `exit ${result.exitCode}`} in the guest${tail ? `: ${tail}` : ''}` };
      } catch (error) {
        if (signal?.aborted) throw error;
        return { ok: false, problem: `in the guest: ${describeError(error)}` };
      }
    };
    let scriptsOk = !!subject.preScript;
    if (subject.preScript) {
      const result = await runVmScript(subject.preScript, 'pre', options.signal);
      if (!result.ok) {
        scriptsOk = false;
        warnings.push(`pre-script failed (${result.problem}); fell back to a lower consistency`);
      }
    }
    let postDone = false;
    const runPost = async () => {
      if (postDone || !subject.postScript) return;
      postDone = true;
      const result = await runVmScript(subject.postScript, 'post');
      if (!result.ok) {
        scriptsOk = false;
        warnings.push(`post-script failed (${result.problem})`);
      }
    };
    let frozen = false;
    try {
      // Fleece targets: blockdev-add is not a transaction action.
      for (const plan of plans) {
        if (fleecing === 'snapshot-access') {
          await writeFile(plan.fleeceFile, '');
          await truncate(plan.fleeceFile, plan.sizeBytes);
          await qmp.blockdevAdd({ driver: 'file', 'node-name': plan.fleeceNode, filename: plan.fleeceFile }, call);
        } else {
          await run('qemu-img', ['create', '-q', '-f', 'qcow2', plan.fleeceFile, String(plan.sizeBytes)]);
          await qmp.blockdevAdd({ driver: 'qcow2', 'node-name': plan.fleeceNode, file: { driver: 'file', filename: plan.fleeceFile }, backing: plan.node }, call);
        }
        created.fleeceNodes.push(plan.fleeceNode);
      }
      const agent = await guestAgent();
      try {
        if (agent) {
          try {
            await agent.fsfreezeFreeze({ timeoutMs: agentTimeoutMs, signal: options.signal });
            frozen = true;
          } catch (error) {
            warnings.push(`guest agent could not freeze the file systems (${describeError(error)}): the point is crash-consistent`);
            // A freeze that timed out may still have happened in the guest: thaw to be sure.
            await agent.fsfreezeThaw({ timeoutMs: agentTimeoutMs }).catch(() => undefined);
          }
        }
        options.signal?.throwIfAborted();
        await qmp.transaction(transactionActions(plans), call);
        for (const plan of plans) {
          created.jobs.push(plan.jobId);
          if (plan.checkpoint) created.checkpoints.push({ node: plan.node, name: plan.checkpoint });
          if (plan.tempBitmap) created.tempBitmaps.push({ node: plan.node, name: plan.tempBitmap });
        }
      } finally {
        if (agent && frozen) {
          await agent.fsfreezeThaw({ timeoutMs: agentTimeoutMs }).catch((error: unknown) => {
            warnings.push(`guest agent could not thaw the file systems (${describeError(error)}): check the guest`);
          });
        }
      }
    } finally {
      await runPost();
      (await agentOpening)?.close();
    }
    const pointTime = vault.clock.now();

    // Export each disk's frozen view over a private NBD socket.
    if (fleecing === 'snapshot-access') {
      for (const plan of plans) {
        await qmp.blockdevAdd({ driver: 'snapshot-access', 'node-name': plan.snapNode!, file: plan.filterNode! }, call);
        created.snapNodes.push(plan.snapNode!);
      }
    }
    const nbdSocket = join(workDir, 'nbd.sock');
    await qmp.nbdServerStart({ addr: { type: 'unix', data: { path: nbdSocket } } }, call);
    created.nbdServer = true;
    for (const plan of plans) {
      await qmp.blockExportAdd({
        type: 'nbd', id: plan.exportId, 'node-name': plan.snapNode ?? plan.fleeceNode, name: plan.exportId,
        ...(plan.tempBitmap ? { bitmaps: [{ node: plan.node, name: plan.tempBitmap }] } : {}),
      }, call);
      created.exports.push(plan.exportId);
    }
    await options.afterSnapshot?.();

    const stored = await readAllDisks(writer, plans, nbdSocket, options, warnings);
    const consistency: Consistency = frozen ? (subject.preScript && scriptsOk ? 'application' : 'file-system')
      : subject.preScript && scriptsOk && !qemu.guestAgentSocket ? 'application' : 'crash';
    for (const plan of plans) {
      const warning = detectionWarning(plan.spec.name, plan.detection, plan.note);
      if (warning) warnings.push(warning);
    }
    const consistencyNote = consistency === 'application' ? null : frozen ? 'file systems frozen through the guest agent; no pre-script'
      : warnings.find((w) => /guest agent|pre-script|post-script/.test(w)) ?? (qemu.guestAgentSocket ? null : 'no guest agent configured (--qga): crash-consistent');
    const { point, meta } = await commitBackupPoint(writer, { subject: subject.name, parent, disks: stored, pointTime, started, consistency, consistencyNote, warnings, options });
    committed = true;
    await cleanup(qmp, created, workDir, false, cleanupProblems, qmpTimeoutMs);
    workDir = undefined;
    // Rotation: only now that the point is durable, drop the older checkpoints of each disk.
    for (const plan of plans) {
      if (!plan.checkpoint) continue;
      try {
        const bitmaps = await qmp.queryNodeDirtyBitmaps(plan.node, call);
        for (const bitmap of bitmaps) {
          if (bitmap.name?.startsWith(CHECKPOINT_PREFIX) && bitmap.name !== plan.checkpoint) {
            await qmp.blockDirtyBitmapRemove({ node: plan.node, name: bitmap.name }, call);
          }
        }
      } catch (error) {
        cleanupProblems.push(`disk "${plan.spec.name}": could not remove the previous checkpoint bitmap: ${describeError(error)}`);
      }
    }
    return { point, meta, cleanupProblems };
  } catch (error) {
    if (qmp && !committed) {
      const problems: string[] = [];
      await cleanup(qmp, created, workDir, true, problems, qmpTimeoutMs);
      workDir = undefined;
      throw withCleanupProblems(error, problems);
    }
    throw error;
  } finally {
    if (workDir) await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    qmp?.close();
    await writer.close();
  }
}

/** A VM script with this prefix runs in the guest through the guest agent. */
export const GUEST_SCRIPT_PREFIX = 'guest:';

async function connectAgent(socket: string, timeoutMs: number, warnings: string[]): Promise<GuestAgentClient | undefined> {
  let agent: GuestAgentClient | undefined;
  try {
    agent = await GuestAgentClient.connect(socket, { timeoutMs });
    await agent.ping({ timeoutMs });
    return agent;
  } catch (error) {
    agent?.close();
    warnings.push(`no guest agent answering on ${socket} (${describeError(error)}): the point is crash-consistent`);
    return undefined;
  }
}

/** Finds each disk's node in QEMU and decides how its changes are found. */
function planDisks(
  disks: readonly BackupDiskSpec[], devices: BlockDeviceNode[], parent: PointManifest | undefined, blockSize: number,
  tag: string, workDir: string, fleecing: 'snapshot-access' | 'overlay',
): DiskPlan[] {
  return disks.map((spec, index) => {
    const device = findDevice(spec, devices);
    const sizeBytes = device.virtualSize;
    const parentDisk = parent?.disks.find((disk) => disk.name === spec.name);
    const qcow2 = device.driver === 'qcow2';
    const { detection, note, previous } = decideChangeDetection({
      hasParent: !!parent, parentDisk, sizeBytes,
      noBitmapReason: qcow2 ? null : `a ${device.driver} image cannot hold a persistent dirty bitmap`,
      bitmaps: device.dirtyBitmaps.filter((bitmap) => bitmap.name !== undefined).map((bitmap) => ({
        name: bitmap.name!, granularity: bitmap.granularity, inconsistent: bitmap.inconsistent === true,
        busy: bitmap.busy, recording: bitmap.recording, persistent: bitmap.persistent,
      })),
    });
    const id = `${QEMU_OBJECT_PREFIX}${tag}-${index}`;
    return {
      spec, device, node: device.nodeName, sizeBytes, parentDisk, detection, note, previous,
      checkpoint: qcow2 ? `${CHECKPOINT_PREFIX}${tag}-${index}` : null,
      // ≤ the vault's block size: a dirty granule never spans more than the blocks it touches.
      granularity: qcow2 ? checkpointGranularity(blockSize) : null,
      tempBitmap: previous ? `${id}-tmp` : null,
      fleeceNode: `${id}-fleece`,
      fleeceFile: join(workDir, `fleece-${index}.${fleecing === 'overlay' ? 'qcow2' : 'raw'}`),
      jobId: `${id}-job`,
      filterNode: fleecing === 'snapshot-access' ? `${id}-cbw` : null,
      snapNode: fleecing === 'snapshot-access' ? `${id}-snap` : null,
      exportId: `${id}-exp`,
    };
  });
}

/** A disk's device by qdev, then node name, then image file. */
function findDevice(spec: BackupDiskSpec, devices: BlockDeviceNode[]): BlockDeviceNode {
  const byQdev = spec.qemu?.qdev ? devices.find((device) => device.qdev === spec.qemu!.qdev) : undefined;
  const byNode = spec.qemu?.node ? devices.find((device) => device.nodeName === spec.qemu!.node) : undefined;
  const byFile = devices.find((device) => device.file === spec.path);
  const found = byQdev ?? byNode ?? byFile;
  if (!found) {
    const known = devices.map((device) => device.qdev ?? device.nodeName).join(', ');
    throw new BovedaError('DISK_NOT_FOUND', `disk "${spec.name}" (${spec.qemu?.qdev ?? spec.qemu?.node ?? spec.path}) is not attached to the running VM (it has: ${known || 'no disks'})`);
  }
  return found;
}

function transactionActions(plans: readonly DiskPlan[]): TransactionAction[] {
  const actions: TransactionAction[] = [];
  for (const plan of plans) {
    if (plan.tempBitmap && plan.previous) {
      actions.push(
        { type: 'block-dirty-bitmap-add', data: { node: plan.node, name: plan.tempBitmap, granularity: plan.previous.granularity, disabled: true, persistent: false } },
        { type: 'block-dirty-bitmap-merge', data: { node: plan.node, target: plan.tempBitmap, bitmaps: [plan.previous.name] } },
      );
    }
    if (plan.checkpoint) {
      actions.push({ type: 'block-dirty-bitmap-add', data: { node: plan.node, name: plan.checkpoint, granularity: plan.granularity!, persistent: true } });
    }
    actions.push({
      type: 'blockdev-backup',
      data: { 'job-id': plan.jobId, device: plan.node, target: plan.fleeceNode, sync: 'none', ...(plan.filterNode ? { 'filter-node-name': plan.filterNode } : {}) },
    });
  }
  return actions;
}

/** All disks in parallel; the first failure cancels the others, and all are awaited. */
async function readAllDisks(writer: VaultWriter, plans: readonly DiskPlan[], socketPath: string, options: QemuBackupOptions, warnings: string[]): Promise<ManifestDisk[]> {
  return allOrCancel(plans, options.signal, (plan, _index, signal) => readDisk(writer, plan, socketPath, { ...options, signal }, warnings));
}

async function readDisk(writer: VaultWriter, plan: DiskPlan, socketPath: string, options: QemuBackupOptions, warnings: string[]): Promise<ManifestDisk> {
  const contexts = [CONTEXT_BASE_ALLOCATION, ...(plan.tempBitmap ? [DIRTY_BITMAP_PREFIX + plan.tempBitmap] : [])];
  const nbd = await NbdClient.connect({ socketPath }, { exportName: plan.exportId, metaContexts: contexts, signal: options.signal });
  try {
    if (nbd.size !== plan.sizeBytes) {
      throw new BovedaError('DISK_SIZE_CHANGED', `disk "${plan.spec.name}": QEMU reported ${plan.sizeBytes} bytes, its export has ${nbd.size}`);
    }
    const meta: DiskMeta = {
      role: plan.spec.role, path: plan.spec.path, changeDetection: plan.detection, changeDetectionNote: plan.note, snapshot: 'none',
      checkpoint: plan.checkpoint, qemuNode: plan.node, ...(plan.granularity ? { bitmapGranularity: plan.granularity } : {}),
    };
    return await writeNbdDisk(writer, nbd, {
      name: plan.spec.name, sizeBytes: plan.sizeBytes, parentDisk: plan.parentDisk, detection: plan.detection, dirtyBitmap: plan.tempBitmap, meta,
      verifyTracking: options.verifyTracking, signal: options.signal, warnings,
      onProgress: ({ bytesDone, bytesTotal }) => options.onProgress?.({ disk: plan.spec.name, bytesDone, bytesTotal }),
    });
  } finally {
    await nbd.disconnect().catch(() => nbd.close());
  }
}

/**
 * Removes what the backup created in QEMU, in dependency order, each step tried on its own:
 * exports → NBD server → snapshot-access nodes → fleecing jobs → fleece nodes → temp bitmaps →
 * (on failure) the new checkpoints → the fleece files.
 */
async function cleanup(qmp: QmpClient, created: Created, workDir: string | undefined, failed: boolean, problems: string[], timeoutMs: number): Promise<void> {
  const call = { timeoutMs };
  const attempt = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (error) {
      problems.push(`could not ${what}: ${describeError(error)}`);
    }
  };
  for (const id of created.exports.splice(0)) await attempt(`remove NBD export ${id}`, () => qmp.blockExportDel(id, { ...call, mode: 'hard' }));
  if (created.nbdServer) {
    created.nbdServer = false;
    await attempt('stop the NBD server', () => qmp.nbdServerStop(call));
  }
  for (const node of created.snapNodes.splice(0)) await attempt(`remove block node ${node}`, () => qmp.blockdevDel(node, call));
  for (const job of created.jobs.splice(0)) await attempt(`cancel block job ${job}`, () => qmp.blockJobCancel(job, { ...call, force: true }));
  for (const node of created.fleeceNodes.splice(0)) await attempt(`remove block node ${node}`, () => qmp.blockdevDel(node, call));
  for (const bitmap of created.tempBitmaps.splice(0)) await attempt(`remove dirty bitmap ${bitmap.name}`, () => qmp.blockDirtyBitmapRemove(bitmap, call));
  const checkpoints = created.checkpoints.splice(0);
  if (failed) for (const bitmap of checkpoints) await attempt(`remove the new checkpoint bitmap ${bitmap.name}`, () => qmp.blockDirtyBitmapRemove(bitmap, call));
  if (workDir) await attempt(`remove ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
}
