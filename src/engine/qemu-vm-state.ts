import { BovedaError, isBovedaError } from '../core/index.js';
import { QmpClient } from '../sources/index.js';

/**
 * Refuses (VM_RUNNING) when the QEMU VM behind `qmpSocket` is up: its monitor answers, so QEMU
 * holds the disks and rewriting them under it would corrupt the guest. An unreachable monitor
 * (QEMU not running: no listener, or a stale socket file) means stopped.
 */
export async function assertQemuVmStopped(vmName: string, qmpSocket: string, signal?: AbortSignal): Promise<void> {
  let client: QmpClient;
  try {
    client = await QmpClient.connect(qmpSocket, { timeoutMs: 3000, signal });
  } catch (error) {
    if (isBovedaError(error, 'QEMU_UNREACHABLE')) return;
    // A monitor that accepts but does not greet (busy with another client) is a running QEMU too.
    if (isBovedaError(error, 'QEMU_TIMEOUT')) {
      throw new BovedaError('VM_RUNNING', `VM ${vmName} is running (its QMP monitor ${qmpSocket} accepts connections): shut it down before restoring its disks in place`, { cause: error });
    }
    throw error;
  }
  try {
    const status = await client.queryStatus();
    throw new BovedaError('VM_RUNNING', `VM ${vmName} is ${status.status} (QMP ${qmpSocket}): shut it down before restoring its disks in place, or restore to new images with --to`);
  } finally {
    await client.close();
  }
}
