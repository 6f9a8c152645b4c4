import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { backupVm, listVmPoints, runScript, type BackupSubject } from '../../src/engine/index.js';
import type { Vault } from '../../src/repository/index.js';
import { SeededRandom } from '../../src/util/index.js';
import { copyClone, createVault, instrumentedOpen, makeWorkDir, pointCount, randomDisk, rejectsWith } from './helpers.js';

/** A path quoted for /bin/sh. */
function sh(path: string): string {
  return `'${path.replaceAll("'", "'\\''")}'`;
}

/** Live (non-zombie) processes in process group `pgid`, as "pid command" lines. */
async function processGroup(pgid: number): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) !== pgid || state === 'Z') continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      found.push(`${name} ${cmdline}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Waits until no live process is left in group `pgid` (killed processes take a moment to be reaped). */
async function assertGroupGone(pgid: number): Promise<void> {
  let left: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    left = await processGroup(pgid);
    if (left.length === 0) return;
    await sleep(20);
  }
  assert.fail(`processes of the script are still running: ${left.join('; ')}`);
}

async function waitForFile(path: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text.trim() !== '') return text.trim();
    await sleep(10);
  }
  assert.fail(`${path} did not appear`);
}

describe('backupVm: pre and post scripts', () => {
  let work: string;
  let vault: Vault;
  let disk: string;
  const random = new SeededRandom(707);

  before(async () => {
    work = await makeWorkDir('scripts');
    vault = await createVault(work);
    disk = join(work, 'os.img');
    await writeFile(disk, randomDisk(random, 8, { zero: [3] }));
  });
  after(async () => {
    await vault.close();
    await rm(work, { recursive: true, force: true });
  });

  const subject = (name: string, scripts: Partial<BackupSubject> = {}): BackupSubject => ({
    name, disks: [{ name: 'os', path: disk, role: 'os' }], ...scripts,
  });
  const file = (name: string) => join(work, name);

  it('records an application-consistent point when the pre and post scripts succeed', async () => {
    const { meta } = await backupVm(vault, subject('app-vm', { preScript: `touch ${sh(file('app.pre'))}`, postScript: `touch ${sh(file('app.post'))}` }));
    assert.equal(meta.consistency, 'application');
    assert.equal(meta.consistencyNote, null);
    assert.ok(!meta.warnings.some((warning) => warning.includes('script failed')), meta.warnings.join('; '));
    assert.ok(existsSync(file('app.pre')) && existsSync(file('app.post')), 'both scripts ran');
    const [summary] = await listVmPoints(vault, 'app-vm');
    assert.equal(summary!.consistency, 'application');
    assert.equal(summary!.consistencyNote, null);
  });

  it('falls back to crash-consistent with a warning when the pre-script fails; the backup still succeeds', async () => {
    const countBefore = await pointCount(vault);
    const { meta } = await backupVm(vault, subject('prefail-vm', {
      preScript: 'echo "database refused to freeze" >&2; exit 3',
      postScript: `touch ${sh(file('prefail.post'))}`,
    }));
    assert.equal(await pointCount(vault), countBefore + 1, 'the point was written');
    assert.equal(meta.consistency, 'crash');
    const warning = meta.warnings.find((item) => item.includes('pre-script failed'));
    assert.ok(warning, meta.warnings.join('; '));
    assert.ok(warning.includes('exit 3'), warning);
    assert.ok(warning.includes('database refused to freeze'), warning);
    assert.equal(meta.consistencyNote, warning);
    assert.ok(existsSync(file('prefail.post')), 'the post-script still runs to resume the VM');
    const [summary] = await listVmPoints(vault, 'prefail-vm');
    assert.equal(summary!.consistency, 'crash');
    assert.deepEqual(summary!.warnings, meta.warnings);
  });

  it('kills a pre-script that times out and goes on crash-consistent after about the timeout', async () => {
    const pidFile = file('timeout.pid');
    const started = performance.now();
    const { meta } = await backupVm(vault, subject('timeout-vm', {
      preScript: `echo $$ > ${sh(pidFile)}; sleep 30; touch ${sh(file('timeout.after-sleep'))}`,
      scriptTimeoutSeconds: 1,
    }));
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 950 && elapsed < 6000, `the backup took ${Math.round(elapsed)} ms`);
    assert.equal(meta.consistency, 'crash');
    const warning = meta.warnings.find((item) => item.includes('pre-script failed'));
    assert.ok(warning?.includes('timed out after 1 s'), meta.warnings.join('; '));
    assert.equal(meta.consistencyNote, warning);
    // The shell and its `sleep 30` child were killed together (the script runs in its own process group).
    await assertGroupGone(Number(await readFile(pidFile, 'utf8')));
    assert.ok(!existsSync(file('timeout.after-sleep')));
  });

  it('marks the point crash-consistent with a warning when the post-script fails', async () => {
    // A disk named "scripts": its read-in-place warning must not be taken for the script's.
    const scriptsDisk = file('scripts-disk.img');
    await writeFile(scriptsDisk, randomDisk(random, 2));
    const { meta } = await backupVm(vault, {
      name: 'postfail-vm',
      disks: [{ name: 'scripts', path: scriptsDisk, role: 'os' }],
      preScript: 'true',
      postScript: 'echo "thaw failed" >&2; exit 5',
    }, { snapshot: false });
    assert.equal(meta.consistency, 'crash');
    assert.equal(meta.warnings.length, 2, meta.warnings.join('; '));
    assert.ok(meta.warnings[0]!.startsWith('disk "scripts": no point-in-time snapshot'), meta.warnings[0]);
    const warning = meta.warnings.find((item) => item.includes('post-script failed'));
    assert.ok(warning, meta.warnings.join('; '));
    assert.ok(warning.includes('exit 5') && warning.includes('thaw failed'), warning);
    assert.equal(meta.consistencyNote, warning);
  });

  it('is crash-consistent without scripts, and says why', async () => {
    const { meta } = await backupVm(vault, subject('noscript-vm'));
    assert.equal(meta.consistency, 'crash');
    assert.ok(meta.consistencyNote?.startsWith('no pre/post scripts configured'), String(meta.consistencyNote));
    assert.ok(!meta.warnings.some((warning) => warning.includes('script failed')), meta.warnings.join('; '));
  });

  it('gives the scripts BOVEDA_VM, BOVEDA_PHASE and BOVEDA_DISKS (temp disks left out)', async () => {
    const data = file('env-data.img');
    const scratch = file('env-scratch.img');
    await writeFile(data, randomDisk(random, 2));
    await writeFile(scratch, randomDisk(random, 2));
    const log = file('env.log');
    const script = `printf '%s %s\\n' "$BOVEDA_PHASE" "$BOVEDA_VM" >> ${sh(log)}; printf '%s' "$BOVEDA_DISKS" > ${sh(work)}/env.disks.$BOVEDA_PHASE`;
    const { meta } = await backupVm(vault, {
      name: 'env vm',
      disks: [{ name: 'os', path: disk, role: 'os' }, { name: 'data', path: data, role: 'data' }, { name: 'scratch', path: scratch, role: 'temp' }],
      preScript: script,
      postScript: script,
    });
    assert.equal(meta.consistency, 'application');
    assert.equal(await readFile(log, 'utf8'), 'pre env vm\npost env vm\n');
    for (const phase of ['pre', 'post']) assert.equal(await readFile(file(`env.disks.${phase}`), 'utf8'), `${disk}\n${data}`);
  });

  it('runs the post-script only after the last read when the disks are read in place', async () => {
    const preMarker = file('order.pre');
    const postMarker = file('order.post');
    const seen: Array<{ pre: boolean; post: boolean }> = [];
    const opened = instrumentedOpen({
      beforeRead: () => {
        seen.push({ pre: existsSync(preMarker), post: existsSync(postMarker) });
      },
      afterRead: () => {
        seen.push({ pre: existsSync(preMarker), post: existsSync(postMarker) });
      },
    });
    const { meta, point } = await backupVm(vault, subject('order-vm', { preScript: `touch ${sh(preMarker)}`, postScript: `touch ${sh(postMarker)}` }), { openDisk: opened.openDisk, snapshot: false });
    assert.equal(opened.opened[0]!.snapshot, 'none');
    assert.equal(point.disks[0]!.stats.bytesRead, 8 * 16 * 1024);
    assert.ok(seen.length >= 2);
    assert.ok(seen.every((state) => state.pre), 'the pre-script ran before any read');
    assert.ok(seen.every((state) => !state.post), 'the post-script had not run when the last read ended');
    assert.ok(existsSync(postMarker), 'the post-script ran after the reads');
    assert.equal(meta.consistency, 'application');
  });

  it('runs the post-script before reading when every disk has a snapshot clone', async () => {
    const preMarker = file('snap-order.pre');
    const postMarker = file('snap-order.post');
    const seen: boolean[] = [];
    const opened = instrumentedOpen({ clone: copyClone, beforeRead: () => void seen.push(existsSync(postMarker)) });
    const { meta } = await backupVm(vault, subject('snap-order-vm', { preScript: `touch ${sh(preMarker)}`, postScript: `touch ${sh(postMarker)}` }), { openDisk: opened.openDisk });
    assert.equal(opened.opened[0]!.snapshot, 'reflink');
    assert.ok(seen.length > 0 && seen.every(Boolean), 'the VM was resumed before its clone was read');
    assert.equal(meta.consistency, 'application');
  });

  it('still runs the post-script when the backup fails after the pre-script', async () => {
    const postMarker = file('fail.post');
    await rejectsWith(backupVm(vault, {
      name: 'fail-vm',
      disks: [{ name: 'os', path: file('no-such-disk.img'), role: 'os' }],
      preScript: 'true',
      postScript: `touch ${sh(postMarker)}`,
    }), 'DISK_NOT_FOUND');
    assert.ok(existsSync(postMarker), 'the VM is resumed even though no point was written');
  });

  it('kills a running pre-script when the backup is cancelled, runs the post-script and fails with ABORTED', async () => {
    const pidFile = file('cancel.pid');
    const postMarker = file('cancel.post');
    const controller = new AbortController();
    const countBefore = await pointCount(vault);
    const started = performance.now();
    const backup = backupVm(vault, subject('cancel-vm', { preScript: `echo $$ > ${sh(pidFile)}; sleep 30`, postScript: `touch ${sh(postMarker)}` }), { signal: controller.signal });
    backup.catch(() => undefined);
    const pid = Number(await waitForFile(pidFile));
    controller.abort();
    await rejectsWith(backup, 'ABORTED');
    assert.ok(performance.now() - started < 6000);
    await assertGroupGone(pid);
    assert.ok(existsSync(postMarker), 'the post-script ran');
    assert.equal(await pointCount(vault), countBefore);
  });
});

describe('runScript', () => {
  it('reports the exit code and the last lines of output, and succeeds on exit 0', async () => {
    assert.deepEqual(await runScript('echo fine', { timeoutSeconds: 5, env: {} }), { ok: true, problem: null });
    const failed = await runScript('echo one; echo two; echo three; echo four; exit 7', { timeoutSeconds: 5, env: {} });
    assert.equal(failed.ok, false);
    assert.equal(failed.problem, 'exit 7: two / three / four', 'the last three lines');
    const missing = await runScript('/no/such/program', { timeoutSeconds: 5, env: {} });
    assert.equal(missing.ok, false);
    assert.match(missing.problem!, /^exit 127/);
  });
});
