import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupQemuVm, type BackupSubject } from '../../src/engine/index.js';
import type { Vault } from '../../src/repository/index.js';
import { HostGuestAgent, QemuProcess } from '../sources/qemu/qemu-process.js';
import { createVault, makeWorkDir } from './helpers.js';

/**
 * Pre/post scripts written "guest:COMMAND" run in the guest through the guest agent (guest-exec).
 * The real qemu-ga runs on the host with the freeze commands blocked, so "the guest" is the host
 * here: the scripts leave a trace in a host file, and the freeze is refused (crash-consistent).
 */
describe('QEMU VM scripts through the guest agent', () => {
  let work: string;
  let vault: Vault;
  let qemu: QemuProcess;
  let agent: HostGuestAgent;

  before(async () => {
    work = await makeWorkDir('guest-scripts');
    vault = await createVault(work);
    qemu = await QemuProcess.start({ diskSizes: [4 * 1024 * 1024] });
    agent = await HostGuestAgent.start();
  });
  after(async () => {
    await agent.stop();
    await qemu.stop();
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  const subject = (preScript: string | null, postScript: string | null): BackupSubject => ({
    name: 'g1',
    disks: [{ name: 'os', path: qemu.disks[0]!.path, role: 'os', qemu: { qdev: qemu.disks[0]!.qdev, node: qemu.disks[0]!.nodeName } }],
    qemu: { qmpSocket: qemu.backupQmpSocket, guestAgentSocket: agent.socketPath },
    preScript, postScript, scriptTimeoutSeconds: 20,
  });

  it('runs guest: pre and post scripts through guest-exec, with the VM and phase in their environment', async () => {
    const trace = join(work, 'trace');
    const script = `guest:echo "$BOVEDA_PHASE $BOVEDA_VM" >> '${trace}'`;
    const result = await backupQemuVm(vault, subject(script, script), { guestAgentTimeoutMs: 5000 });
    assert.equal(await readFile(trace, 'utf8'), 'pre g1\npost g1\n');
    assert.ok(!result.meta.warnings.some((warning) => /script failed/.test(warning)), result.meta.warnings.join('\n'));
    // The host's qemu-ga refuses to freeze: scripts ran, but the point is only crash-consistent.
    assert.ok(result.meta.warnings.some((warning) => /could not freeze/.test(warning)), result.meta.warnings.join('\n'));
    assert.equal(result.meta.consistency, 'crash');
  });

  it('a failing guest pre-script lowers consistency with its exit status and output, and the backup goes on', async () => {
    const result = await backupQemuVm(vault, subject('guest:echo database busy >&2; exit 3', null), { guestAgentTimeoutMs: 5000 });
    const warning = result.meta.warnings.find((text) => /pre-script failed/.test(text));
    assert.ok(warning, result.meta.warnings.join('\n'));
    assert.match(warning, /exit 3 in the guest: database busy/);
    assert.equal(result.point.disks.length, 1);
  });
});
