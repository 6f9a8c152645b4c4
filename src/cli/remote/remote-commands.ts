import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { shellQuote, type CleanupReport, type ProtectedItemRecord, type StoredJob, type UsageReport, type VmRecord } from '../../app/index.js';
import {
  BovedaError, checkSecretKind, checkSecretName, defaultPolicy, JOB_STATUSES, JOB_TYPES, type JobRecord, type PolicyRecord, type SecretKind,
} from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printJsonLine, printLines } from '../io.js';
import { applyPolicyFlags, withFlagName, type PolicyFlags } from '../policy-flags.js';
import { auditLines, wholeNumber } from '../commands/audit.js';
import { expiryFrom } from '../commands/backup.js';
import { cleanupLines } from '../commands/cleanup.js';
import { jobLines, jobTableLines } from '../commands/jobs.js';
import { pointLines } from '../commands/points.js';
import { policyLines } from '../commands/policy.js';
import { itemLine } from '../commands/protection.js';
import { imageFormat, newVmFlags } from '../commands/restore.js';
import { writeSecretFiles } from '../commands/secrets-restore.js';
import { readPriceTable, usageLines } from '../commands/usage.js';
import { DAMAGE_EXIT_CODE } from '../commands/vault-verify.js';
import { expiresDaysFlag, passwordLines, readPasswordFile, roleFlag, tokenTable, userTable } from '../commands/user.js';
import { readAll } from '../commands/vm-secret.js';
import { parseDiskRoles } from '../commands/vm-add.js';
import { diskLines, parseDiskSpec, parseScriptTimeout } from '../commands/vm-options.js';
import { vmListLines } from '../commands/vm-list.js';
import { vmShowLines } from '../commands/vm-show.js';
import { ApiClient, SERVER_ENV } from './api-client.js';
import { waitForJob } from './job-wait.js';

type Options = Record<string, unknown> & { json?: boolean; now?: string };
type RemoteAction = (client: ApiClient, args: string[], options: Options, context: CommandContext) => Promise<void>;

const enc = encodeURIComponent;

/** `boveda X` for a command that has no meaning on a server (vault keys, local files, the server itself). */
function localOnly(path: string): BovedaError {
  return new BovedaError('INVALID_ARGUMENT', `\`boveda ${path}\` works on the server's machine only; unset ${SERVER_ENV} to run it locally`);
}

function notRemotely(flag: string, why = `works with the local data directory only; unset ${SERVER_ENV} to use it`): BovedaError {
  return new BovedaError('INVALID_ARGUMENT', `${flag} ${why}`);
}

async function startAndWait(client: ApiClient, path: string, body: unknown, context: CommandContext, json: boolean): Promise<JobRecord> {
  const { job } = await client.request<{ job: JobRecord }>('POST', path, { body, signal: context.signal });
  return waitForJob(client, job, context, json);
}

function printDone(context: CommandContext, job: JobRecord, json: boolean, lines: () => string[]): void {
  if (json) return printJsonLine(context.io, { event: 'completed', job });
  printLines(context.io, lines());
}

function itemOutput(context: CommandContext, options: Options, vmName: string, item: ProtectedItemRecord | null, note?: string): void {
  if (options.json) return printJson(context.io, { item, note: note ?? null });
  printLines(context.io, [item ? itemLine(item) : `VM ${vmName}: no protected item`, ...(note ? [note] : [])]);
}

type DeleteOutcome = { item: ProtectedItemRecord | null; purged?: boolean; removedPoints?: number };
const purgeNote = (outcome: DeleteOutcome) => (outcome.purged ? `soft delete is off: deleted ${outcome.removedPoints ?? 0} point(s) at once` : undefined);

async function newestPoint(client: ApiClient, vmName: string, signal: AbortSignal): Promise<string> {
  const { points } = await client.request<{ points: { id: string }[] }>('GET', `/api/vms/${enc(vmName)}/points`, { signal });
  if (points.length === 0) throw new BovedaError('POINT_NOT_FOUND', `VM "${vmName}" has no recovery points`);
  return points[points.length - 1]!.id;
}

/** The remote form of each command, by its path under `boveda`. Commands not listed refuse (localOnly). */
const REMOTE: Record<string, RemoteAction> = {
  'vm list': async (client, _args, options, { io, signal }) => {
    const answer = await client.request<{ vms: VmRecord[] }>('GET', '/api/vms', { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, vmListLines(answer.vms));
  },
  'vm show': async (client, [name], options, { io, signal }) => {
    const answer = await client.request<{ vm: VmRecord; disks: Parameters<typeof vmShowLines>[1]; qemu: Parameters<typeof vmShowLines>[2] | null }>('GET', `/api/vms/${enc(name!)}`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, vmShowLines(answer.vm, answer.disks, answer.qemu ?? undefined));
  },
  'vm add': async (client, [name], options, { io, signal }) => {
    const scripts = {
      preScript: options.preScript as string | undefined, postScript: options.postScript as string | undefined, notes: options.notes as string | undefined,
      scriptTimeoutSeconds: options.scriptTimeout === undefined ? undefined : parseScriptTimeout(options.scriptTimeout as string),
    };
    const disks = (options.disk as string[]).map((spec) => parseDiskSpec(spec));
    let body: Record<string, unknown>;
    if (options.qemuQmp !== undefined) {
      if (disks.length > 0) throw new BovedaError('INVALID_ARGUMENT', '--disk and --qemu-qmp exclude each other: a QEMU VM\'s disks are discovered over QMP');
      // The sockets are on the server's machine: sent as given (the server wants them absolute).
      const diskRoles = Object.fromEntries(parseDiskRoles(options.diskRole as string[]));
      const exclude = options.exclude as string[];
      body = { name, ...scripts, qemu: { qmpSocket: options.qemuQmp, qgaSocket: options.qga, diskRoles: exclude.length + Object.keys(diskRoles).length > 0 ? diskRoles : undefined, exclude: exclude.length > 0 ? exclude : undefined } };
    } else {
      if (options.qga !== undefined || (options.diskRole as string[]).length > 0 || (options.exclude as string[]).length > 0) {
        throw new BovedaError('INVALID_ARGUMENT', '--qga, --disk-role and --exclude need --qemu-qmp');
      }
      // Paths are on the server's machine: sent as given (the server resolves them and checks its allowed directories).
      body = { name, ...scripts, disks };
    }
    const answer = await client.request<{ vm: VmRecord }>('POST', '/api/vms', { body, signal });
    if (options.json) return printJson(io, answer);
    const vm = answer.vm;
    printLines(io, [`Added ${vm.qemu ? 'QEMU ' : ''}VM ${vm.name} with ${vm.disks.length} disk${vm.disks.length === 1 ? '' : 's'}:`, ...diskLines(vm)]);
  },
  'vm set': async (client, [name], options, { io, signal }) => {
    const addDisks = (options.addDisk as string[]).map((spec) => parseDiskSpec(spec, '--add-disk'));
    const removeDisks = options.removeDisk as string[];
    const body = {
      preScript: options.preScript === false ? null : options.preScript, postScript: options.postScript === false ? null : options.postScript,
      notes: options.notes === false ? null : options.notes,
      scriptTimeoutSeconds: options.scriptTimeout === undefined ? undefined : parseScriptTimeout(options.scriptTimeout as string),
      addDisks: addDisks.length > 0 ? addDisks : undefined, removeDisks: removeDisks.length > 0 ? removeDisks : undefined,
    };
    if (Object.values(body).every((value) => value === undefined)) {
      throw new BovedaError('INVALID_ARGUMENT', 'nothing to change: give --pre-script, --post-script, --script-timeout, --notes, --add-disk or --remove-disk (or their --no- forms)');
    }
    const answer = await client.request<{ vm: VmRecord }>('PATCH', `/api/vms/${enc(name!)}`, { body, signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [`Updated VM ${answer.vm.name}; disks now:`, ...diskLines(answer.vm)]);
  },
  'vm remove': async (client, [name], options, { io, signal }) => {
    const answer = await client.request<{ vm: VmRecord }>('DELETE', `/api/vms/${enc(name!)}`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [`Removed VM ${answer.vm.name} (its recovery points stay in the vault)`]);
  },
  'vm secret list': async (client, [vmName], options, { io, signal }) => {
    const answer = await client.request<{ secrets: { name: string; kind: string; sizeBytes: number; updatedAt: string }[] }>('GET', `/api/vms/${enc(vmName!)}/secrets`, { signal });
    if (options.json) return printJson(io, answer);
    if (answer.secrets.length === 0) return printLines(io, [`VM "${vmName}" has no secrets (add one with "boveda vm secret set ${vmName} NAME --file FILE").`]);
    printLines(io, ['NAME                              KIND             SIZE        UPDATED (UTC)', ...answer.secrets.map((entry) =>
      `${entry.name.padEnd(32)}  ${entry.kind.padEnd(15)}  ${formatSize(entry.sizeBytes).padEnd(10)}  ${entry.updatedAt}`)]);
  },
  'vm secret set': async (client, [vmName, name], options, { io, signal }) => {
    if ((options.file === undefined) === (options.stdin !== true)) throw new BovedaError('INVALID_ARGUMENT', 'give the value with exactly one of --file FILE or --stdin');
    const kind: SecretKind = options.kind !== undefined ? checkSecretKind(options.kind) : options.file !== undefined ? 'key-file' : 'luks-passphrase';
    let value: Buffer;
    try {
      value = options.file !== undefined ? await readFile(options.file as string) : await readAll(io);
    } catch (error) {
      throw new BovedaError('INVALID_ARGUMENT', `cannot read the secret's value from ${(options.file as string | undefined) ?? 'stdin'}: ${(error as Error).message}`, { cause: error });
    }
    const answer = await client.request<{ secret: { name: string; kind: string; sizeBytes: number } }>('PUT', `/api/vms/${enc(vmName!)}/secrets/${enc(name!)}`, { body: { kind, valueBase64: value.toString('base64') }, signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [`Secret ${answer.secret.name} (${answer.secret.kind}, ${answer.secret.sizeBytes} bytes) of VM ${vmName} stored encrypted; the next backups carry it`]);
  },
  'vm secret remove': async (client, [vmName, name], options, { io, signal }) => {
    const answer = await client.request('DELETE', `/api/vms/${enc(vmName!)}/secrets/${enc(name!)}`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [`Removed secret ${name} of VM ${vmName} (recovery points that stored it keep it)`]);
  },
  'secrets restore': async (client, [vmName], options, { io, signal }) => {
    const dir = resolve(options.to as string);
    const pointId = (options.point as string | undefined) ?? await newestPoint(client, vmName!, signal);
    const read = await client.request<{ pointId: string; secrets: { name: string; kind: string; sizeBytes: number; valueBase64: string }[] }>(
      'POST', `/api/vms/${enc(vmName!)}/points/${enc(pointId)}/secrets/restore`, { signal });
    if (read.secrets.length === 0) throw new BovedaError('SECRET_NOT_FOUND', `recovery point ${read.pointId} of VM "${vmName}" stored no secrets`);
    // The names come from the server: checked again, so none can write outside --to.
    const secrets = read.secrets.map((secret) => ({ ...secret, name: checkSecretName(secret.name), value: Buffer.from(secret.valueBase64, 'base64') }));
    const written = await writeSecretFiles(dir, secrets);
    if (options.json) return printJson(io, { vm: vmName, pointId: read.pointId, files: secrets.map((secret, i) => ({ name: secret.name, kind: secret.kind, sizeBytes: secret.sizeBytes, path: written[i] })) });
    printLines(io, [`Restored ${written.length} secret${written.length === 1 ? '' : 's'} of point ${read.pointId} of VM ${vmName} (mode 0600):`, ...written.map((path) => `  ${path}`)]);
  },

  'policy list': async (client, _args, options, { io, signal }) => {
    const answer = await client.request<{ policies: (PolicyRecord & { usedBy: string[] })[] }>('GET', '/api/policies', { signal });
    if (options.json) return printJson(io, answer);
    if (answer.policies.length === 0) return printLines(io, ['No policies (create one with "boveda policy create NAME").']);
    printLines(io, answer.policies.flatMap((entry) => [...policyLines(entry, entry.usedBy), '']).slice(0, -1));
  },
  'policy show': async (client, [name], options, { io, signal }) => {
    const answer = await client.request<{ policy: PolicyRecord; usedBy: string[] }>('GET', `/api/policies/${enc(name!)}`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, policyLines(answer.policy, answer.usedBy));
  },
  'policy create': async (client, [name], options, { io, signal }) => {
    let definition;
    try {
      definition = applyPolicyFlags(defaultPolicy(name!), options as PolicyFlags);
    } catch (error) {
      throw withFlagName(error);
    }
    const answer = await client.request<{ policy: PolicyRecord }>('POST', '/api/policies', { body: policyBody(definition), signal }).catch((error: unknown) => { throw withFlagName(error); });
    if (options.json) return printJson(io, answer);
    printLines(io, ['Created:', ...policyLines(answer.policy, [])]);
  },
  'policy update': async (client, [name], options, { io, signal }) => {
    const { policy: current } = await client.request<{ policy: PolicyRecord }>('GET', `/api/policies/${enc(name!)}`, { signal });
    let definition;
    try {
      definition = applyPolicyFlags(current, options as PolicyFlags);
    } catch (error) {
      throw withFlagName(error);
    }
    const answer = await client.request<{ policy: PolicyRecord; preview: CleanupReport | null; shortens: unknown[] }>(
      'PUT', `/api/policies/${enc(name!)}`, { body: policyBody(definition), query: { dryRun: options.dryRun ? true : undefined }, signal },
    ).catch((error: unknown) => { throw withFlagName(error); });
    if (options.json) return printJson(io, answer);
    const lines = [options.dryRun ? 'Would change to (dry run, nothing changed):' : 'Updated:', ...policyLines(answer.policy, answer.preview?.vms.map((vm) => vm.vmName) ?? [])];
    if (answer.preview) lines.push('', ...cleanupLines(answer.preview));
    printLines(io, lines);
  },
  'policy delete': async (client, [name], options, { io, signal }) => {
    const answer = await client.request<{ policy: PolicyRecord }>('DELETE', `/api/policies/${enc(name!)}`, { signal });
    if (options.json) return printJson(io, { deleted: answer.policy.name });
    printLines(io, [`Deleted policy ${answer.policy.name}.`]);
  },

  protect: async (client, [vmName], options, context) => {
    const { item } = await client.request<{ item: ProtectedItemRecord }>('POST', `/api/vms/${enc(vmName!)}/protect`, { body: { policy: options.policy }, signal: context.signal });
    itemOutput(context, options, vmName!, item);
  },
  'stop-protection': async (client, [vmName], options, context) => {
    if (Boolean(options.retainData) === Boolean(options.deleteData)) throw new BovedaError('INVALID_ARGUMENT', 'give exactly one of --retain-data and --delete-data');
    const outcome = await client.request<DeleteOutcome>('POST', `/api/vms/${enc(vmName!)}/stop-protection`, { body: { deleteData: options.deleteData === true }, signal: context.signal });
    itemOutput(context, options, vmName!, outcome.item, purgeNote(outcome));
  },
  resume: async (client, [vmName], options, context) => {
    const { item } = await client.request<{ item: ProtectedItemRecord }>('POST', `/api/vms/${enc(vmName!)}/resume`, { body: { policy: options.policy }, signal: context.signal });
    itemOutput(context, options, vmName!, item);
  },
  'delete-data': async (client, [vmName], options, context) => {
    const outcome = await client.request<DeleteOutcome>('POST', `/api/vms/${enc(vmName!)}/delete-data`, { signal: context.signal });
    itemOutput(context, options, vmName!, outcome.item, purgeNote(outcome));
  },
  undelete: async (client, [vmName], options, context) => {
    const { item } = await client.request<{ item: ProtectedItemRecord }>('POST', `/api/vms/${enc(vmName!)}/undelete`, { signal: context.signal });
    itemOutput(context, options, vmName!, item, `resume backups with "boveda resume ${vmName}"`);
  },

  backup: async (client, [vmName], options, context) => {
    if (Number(options.wait) > 0) throw notRemotely('--wait', 'is not in the API: the server refuses a second backup of a VM (VM_BUSY); retry later');
    // Checked here too, so a typo is reported before anything is sent; the server counts retainDays from its clock.
    const expiresAt = expiryFrom(options as { retainDays?: string; retainUntil?: string }, new Date());
    const body = {
      retainDays: options.retainDays === undefined ? undefined : Number(options.retainDays),
      retainUntil: options.retainUntil === undefined ? undefined : expiresAt!.toISOString(),
      snapshot: options.snapshot === false ? false : undefined,
      verifyTracking: options.verifyTracking === true ? true : undefined,
    };
    const json = options.json === true;
    const job = await startAndWait(client, `/api/vms/${enc(vmName!)}/backups`, body, context, json);
    type DiskResult = { name: string; changeDetection?: string; changeDetectionNote?: string | null; bytesRead?: number; trackingMissedBlocks?: number };
    const result = (job.result ?? {}) as { pointId?: string; createdAt?: string; expiresAt?: string | null; type?: string; consistency?: string; disks?: DiskResult[]; trackingMissedBlocks?: number };
    // As the local command: exit 3 when the dirty bitmaps missed changed blocks.
    if ((result.trackingMissedBlocks ?? 0) > 0) context.setExitCode(DAMAGE_EXIT_CODE);
    const missed = (disk: DiskResult) => (disk.trackingMissedBlocks === undefined ? '' : `, tracking missed ${disk.trackingMissedBlocks} block${disk.trackingMissedBlocks === 1 ? '' : 's'}`);
    printDone(context, job, json, () => {
      return [
        `Recovery point ${result.pointId} of VM "${vmName}" (${result.type}, ${result.consistency}-consistent) at ${result.createdAt}`,
        `  expires ${result.expiresAt ?? 'never'}${result.expiresAt ? ' (UTC)' : ''}`,
        `  job ${job.id}: ${job.status}`,
        ...(result.disks ?? []).map((disk) => `  ${disk.name}: read ${formatSize(disk.bytesRead ?? 0)}, changes by ${disk.changeDetection ?? 'full'}${disk.changeDetectionNote ? ` (${disk.changeDetectionNote})` : ''}${missed(disk)}`),
        ...job.warnings.map((warning) => `  warning: ${warning}`),
        `  took ${job.durationSeconds ?? '?'} s`,
      ];
    });
  },
  points: async (client, [vmName], options, { io, signal }) => {
    const answer = await client.request<{ points: Parameters<typeof pointLines>[1] }>('GET', `/api/vms/${enc(vmName!)}/points`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, pointLines(vmName!, answer.points));
  },
  restore: async (client, [vmName], options, context) => {
    if ((options.to === undefined) === (options.replace !== true)) throw new BovedaError('INVALID_ARGUMENT', 'give exactly one of --to DIR or --replace');
    if (options.replace && options.format !== undefined) throw new BovedaError('INVALID_ARGUMENT', '--format goes with --to, not --replace (which keeps the disks\' own format)');
    const asVm = newVmFlags(options as Parameters<typeof newVmFlags>[0]);
    const format = imageFormat(options.format as string | undefined, asVm === undefined ? 'raw' : 'qcow2');
    // --to is a directory on the server's machine, inside its allowed directories.
    const target = options.replace ? { kind: 'replace' } : { kind: 'directory', path: options.to, format, force: options.force === true, asVm };
    const json = options.json === true;
    const job = await startAndWait(client, `/api/vms/${enc(vmName!)}/restores`, { point: options.point, disks: options.disk, target }, context, json);
    printDone(context, job, json, () => {
      const result = (job.result ?? {}) as { pointId?: string; mode?: string; directory?: string; format?: string; disks?: string[]; bytesWritten?: number; name?: string; script?: string; libvirtXml?: string };
      if (result.mode === 'new-vm') {
        return [
          `Restored recovery point ${result.pointId} of VM "${vmName}" as new VM ${JSON.stringify(result.name)} (job ${job.id}) on ${client.baseUrl}:`,
          ...(result.disks ?? []).map((disk) => `  ${disk} → ${result.directory}/${disk}.${result.format === 'raw' ? 'img' : 'qcow2'}`),
          `Start it with QEMU on the server's machine: ${shellQuote(result.script ?? '')}`,
          `Or define it in libvirt there: virsh define ${shellQuote(result.libvirtXml ?? '')} && virsh start ${shellQuote(result.name ?? '')}`,
        ];
      }
      if (result.mode === 'replace') {
        return [`Replaced the disks of VM "${vmName}" with recovery point ${result.pointId} (job ${job.id}): ${(result.disks ?? []).join(', ')}; ${formatSize(result.bytesWritten ?? 0)} written`];
      }
      const extension = result.format === 'qcow2' ? 'qcow2' : 'img';
      return [`Restored recovery point ${result.pointId} of VM "${vmName}" (job ${job.id}) on ${client.baseUrl}:`, ...(result.disks ?? []).map((disk) => `  ${disk} → ${result.directory}/${disk}.${extension}`)];
    });
  },

  jobs: async (client, _args, options, { io, signal }) => {
    if (options.status !== undefined && !(JOB_STATUSES as readonly unknown[]).includes(options.status)) throw new BovedaError('INVALID_ARGUMENT', `--status "${String(options.status)}" is not a job status (${JOB_STATUSES.join(', ')})`);
    if (options.type !== undefined && !(JOB_TYPES as readonly unknown[]).includes(options.type)) throw new BovedaError('INVALID_ARGUMENT', `--type "${String(options.type)}" is not a job type (${JOB_TYPES.join(', ')})`);
    const limit = Number(options.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new BovedaError('INVALID_ARGUMENT', `--limit "${String(options.limit)}" must be a whole number from 1 to 1000`);
    const answer = await client.request<{ jobs: StoredJob[] }>('GET', '/api/jobs', { query: { vm: options.vm as string | undefined, status: options.status as string | undefined, type: options.type as string | undefined, limit }, signal });
    if (options.json) return printJson(io, answer);
    printLines(io, jobTableLines(answer.jobs));
  },
  'job show': async (client, [id], options, { io, signal }) => {
    const answer = await client.request<{ job: StoredJob }>('GET', `/api/jobs/${enc(id!)}`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, jobLines(answer.job));
  },
  'job cancel': async (client, [id], options, { io, signal }) => {
    const answer = await client.request<{ job: StoredJob }>('POST', `/api/jobs/${enc(id!)}/cancel`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [answer.job.status === 'cancelled' ? `Job ${answer.job.id} cancelled.` : `Cancel requested for job ${answer.job.id}; it stops shortly.`]);
  },

  usage: async (client, _args, options, { io, signal }) => {
    // A price table file is read here and sent inline: the server prices with it and stores nothing.
    const report = options.prices === undefined ? await client.request<UsageReport>('GET', '/api/usage', { signal })
      : await client.request<UsageReport>('POST', '/api/usage/estimate', { body: { priceTable: await readPriceTable(options.prices as string) }, signal });
    if (options.json) return printJson(io, report);
    printLines(io, usageLines(report));
  },
  cleanup: async (client, _args, options, context) => {
    const vms = options.vm as string[];
    const vm = vms.length === 0 ? undefined : vms;
    if (options.dryRun) {
      const { plan } = await client.request<{ plan: CleanupReport }>('POST', '/api/cleanup', { body: { dryRun: true, vm }, signal: context.signal });
      if (options.json) return printJson(context.io, plan);
      return printLines(context.io, cleanupLines(plan));
    }
    const json = options.json === true;
    const job = await startAndWait(client, '/api/cleanup', { vm }, context, json);
    printDone(context, job, json, () => [`Cleanup job ${job.id}: ${job.status}`, `  result: ${JSON.stringify(job.result)}`, ...job.warnings.map((warning) => `  warning: ${warning}`)]);
  },
  'vault verify': async (client, _args, options, context) => {
    const json = options.json === true;
    const job = await startAndWait(client, '/api/vault/verify', { readData: options.readData === true ? true : undefined }, context, json);
    const result = (job.result ?? {}) as { ok?: boolean; points?: number; packs?: number; readData?: boolean; problems?: number; bytesChecked?: number };
    if (result.ok === false) context.setExitCode(DAMAGE_EXIT_CODE);
    printDone(context, job, json, () => [
      `Checked ${result.points} recovery points, ${result.packs} packs${result.readData ? ` (${formatSize(result.bytesChecked ?? 0)} read)` : ' (structure only; --read-data reads every byte)'} (job ${job.id})`,
      result.ok ? 'No damage found.' : `${result.problems} damaged object${result.problems === 1 ? '' : 's'} found (details: "boveda job show ${job.id}" or the server's vault page).`,
    ]);
  },
  'vault gc': async (client, _args, options, context) => {
    if (Number(options.wait) > 0) throw notRemotely('--wait', 'is not in the API');
    const repackBelow = Number(options.repackBelow);
    if (!(repackBelow >= 0 && repackBelow <= 1)) throw new BovedaError('INVALID_ARGUMENT', `--repack-below "${String(options.repackBelow)}" must be a number from 0 to 1`);
    if (options.dryRun) {
      const { report } = await client.request<{ report: Record<string, number> }>('POST', '/api/vault/gc', { body: { repackBelow, dryRun: true }, signal: context.signal });
      if (options.json) return printJson(context.io, report);
      return printLines(context.io, [
        `Would free ${formatSize(report.bytesFreed ?? 0)}: ${report.packsDeleted} packs deleted, ${report.packsRepacked} repacked into ${report.packsWritten}, ${report.orphanPacksDeleted} orphan packs, ${report.blobsRemoved} blobs removed`,
        `${report.points} recovery points kept; index files ${report.indexFilesBefore} → ${report.indexFilesAfter}`,
      ]);
    }
    const json = options.json === true;
    const job = await startAndWait(client, '/api/vault/gc', { repackBelow }, context, json);
    const result = (job.result ?? {}) as Record<string, number>;
    printDone(context, job, json, () => [
      `Freed ${formatSize(result.bytesFreed ?? 0)}: ${result.packsDeleted} packs deleted, ${result.packsRepacked} repacked into ${result.packsWritten}, ${result.orphanPacksDeleted} orphan packs, ${result.blobsRemoved} blobs removed (job ${job.id})`,
      `${result.points} recovery points kept`,
    ]);
  },

  'settings show': async (client, _args, options, { io, signal }) => {
    const values = await client.request<{ softDelete: boolean; priceTable: unknown }>('GET', '/api/settings', { signal });
    if (options.json) return printJson(io, values);
    printLines(io, [`soft delete: ${values.softDelete ? 'on (deleted data kept 14 days)' : 'OFF (deleted data is gone at once)'}`, `price table: ${values.priceTable ? JSON.stringify(values.priceTable) : 'none'}`]);
  },
  'settings soft-delete': async (client, [value], options, { io, signal }) => {
    if (value !== 'on' && value !== 'off') throw new BovedaError('INVALID_ARGUMENT', `soft-delete "${value}": expected on or off`);
    const answer = await client.request('PUT', '/api/settings/soft-delete', { body: { enabled: value === 'on', confirmPermanentDeletion: options.confirmPermanentDeletion === true ? true : undefined }, signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [`Soft delete is ${value}.`]);
  },
  'settings price-table': async (client, [file], options, { io, signal }) => {
    if ((file === undefined) === !options.clear) throw new BovedaError('INVALID_ARGUMENT', 'give a price table file or --clear');
    const table = file === undefined ? null : await readPriceTable(file);
    const answer = await client.request<{ priceTable: { currency: string } | null }>('PUT', '/api/settings/price-table', { body: { priceTable: table }, signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [answer.priceTable === null ? 'Price table removed.' : `Price table stored (${answer.priceTable.currency}).`]);
  },

  'user list': async (client, _args, options, { io, signal }) => {
    const answer = await client.request<{ users: Parameters<typeof userTable>[0] }>('GET', '/api/users', { signal });
    if (options.json) return printJson(io, answer);
    if (answer.users.length === 0) return printLines(io, ['No users.']);
    printLines(io, userTable(answer.users));
  },
  'user add': async (client, [name], options, { io, signal }) => {
    const role = roleFlag(options.role as string | undefined, true)!;
    const password = options.passwordFile === undefined ? undefined : await readPasswordFile(options.passwordFile as string);
    const answer = await client.request<{ user: Parameters<typeof userTable>[0][number]; password?: string }>('POST', '/api/users', { body: { name, role, password, keyRestore: options.keyRestore === true }, signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [
      `Created user ${answer.user.name} (role ${answer.user.role}${answer.user.keyRestore ? ', may restore disk-encryption keys' : ''}) on ${client.baseUrl}.`,
      ...(answer.password ? passwordLines(answer.user.name, answer.password) : [`Its password is the one in ${String(options.passwordFile)}.`]),
    ]);
  },
  'user set': async (client, [name], options, { io, signal }) => {
    if (options.disable && options.enable) throw new BovedaError('INVALID_ARGUMENT', 'give --disable or --enable, not both');
    if (options.passwordFile !== undefined && options.resetPassword) throw new BovedaError('INVALID_ARGUMENT', 'give --password-file or --reset-password, not both');
    if (options.resetPassword) throw notRemotely('--reset-password', 'is not in the API: give --password-file FILE');
    if (options.keyRestore !== undefined && options.keyRestore !== 'on' && options.keyRestore !== 'off') throw new BovedaError('INVALID_ARGUMENT', `--key-restore "${String(options.keyRestore)}": expected on or off`);
    const body = {
      role: roleFlag(options.role as string | undefined, false),
      password: options.passwordFile === undefined ? undefined : await readPasswordFile(options.passwordFile as string),
      disabled: options.disable ? true : options.enable ? false : undefined,
      keyRestore: options.keyRestore === undefined ? undefined : options.keyRestore === 'on',
    };
    if (Object.values(body).every((value) => value === undefined)) throw new BovedaError('INVALID_ARGUMENT', 'nothing to change: give --role, --disable, --enable, --key-restore or --password-file');
    const answer = await client.request<{ user: Parameters<typeof userTable>[0][number] }>('PATCH', `/api/users/${enc(name!)}`, { body, signal });
    if (options.json) return printJson(io, answer);
    const updated = answer.user;
    printLines(io, [`Updated user ${updated.name}: role ${updated.role}, ${updated.disabled ? 'DISABLED' : 'enabled'}, key restore ${updated.keyRestore ? 'on' : 'off'}${body.password === undefined ? '' : ', new password (its sessions ended)'}.`]);
  },
  'user remove': async (client, [name], options, { io, signal }) => {
    const answer = await client.request('DELETE', `/api/users/${enc(name!)}`, { signal });
    if (options.json) return printJson(io, answer);
    printLines(io, [`Removed user ${name} (with its API tokens and sessions).`]);
  },
  'user token create': async (client, [userName], options, { io, signal }) => {
    if (options.name === undefined) throw new BovedaError('INVALID_ARGUMENT', '--name is required: say what the token is for');
    const me = await client.request<{ name: string }>('GET', '/api/me', { signal });
    if (me.name !== userName) throw new BovedaError('INVALID_ARGUMENT', `the server creates API tokens for the signed-in user only (${me.name}), not for "${userName}": log in as that user ("boveda login --name ${userName}") or run the command on the server's machine`);
    const expiresInDays = expiresDaysFlag(options.expiresDays as string | undefined);
    const issued = await client.request<{ token: string; record: { id: string; name: string; userName: string; expiresAt: string | null } }>('POST', '/api/tokens', { body: { name: options.name, expiresInDays }, signal });
    if (options.json) return printJson(io, { id: issued.record.id, token: issued.token, record: issued.record });
    printLines(io, [
      `Created API token ${issued.record.id} ("${issued.record.name}") for ${issued.record.userName}, ${issued.record.expiresAt ? `expires ${issued.record.expiresAt}` : 'never expires'}.`,
      `Token (shown only this once): ${issued.token}`,
      `Use it as BOVEDA_TOKEN (with BOVEDA_SERVER=${client.baseUrl}) or in the header "Authorization: Bearer <token>".`,
    ]);
  },
  'user token list': async (client, [userName], options, { io, signal }) => {
    if (options.sessions) throw notRemotely('--sessions', 'is not in the API: list sessions on the server\'s machine');
    const answer = await client.request<{ tokens: Parameters<typeof tokenTable>[0] }>('GET', '/api/tokens', { query: { user: userName }, signal });
    if (options.json) return printJson(io, answer);
    if (answer.tokens.length === 0) return printLines(io, [`No API tokens${userName ? ` for ${userName}` : ''} (create one with "boveda login" or "boveda user token create USER --name NAME").`]);
    printLines(io, tokenTable(answer.tokens));
  },
  'user token revoke': async (client, [id], options, { io, signal }) => {
    const answer = await client.request<{ revoked: { id: string; kind: string; name: string | null; userName: string } }>('DELETE', `/api/tokens/${enc(id!)}`, { signal });
    if (options.json) return printJson(io, answer);
    const { revoked } = answer;
    printLines(io, [`Revoked ${revoked.kind === 'api' ? 'API token' : 'session'} ${revoked.id}${revoked.name ? ` ("${revoked.name}")` : ''} of ${revoked.userName}.`]);
  },
  audit: async (client, _args, options, { io, signal }) => {
    const query = {
      limit: wholeNumber(options.limit as string | undefined, '--limit', 1, 10_000), beforeId: wholeNumber(options.before as string | undefined, '--before', 1, Number.MAX_SAFE_INTEGER),
      action: options.action as string | undefined, target: options.target as string | undefined,
    };
    const answer = await client.request<{ entries: Parameters<typeof auditLines>[0] }>('GET', '/api/audit', { query, signal });
    if (options.json) return printJson(io, answer);
    if (answer.entries.length === 0) return printLines(io, ['No audit entries match.']);
    printLines(io, auditLines(answer.entries));
  },
};

/** A policy as the API takes it: only the documented properties (records carry timestamps). */
function policyBody(policy: { name: string; description?: string | null; schedule: unknown; retention: unknown; instantRestoreDays: number }) {
  return { name: policy.name, description: policy.description ?? null, schedule: policy.schedule, retention: policy.retention, instantRestoreDays: policy.instantRestoreDays };
}

/** "vm secret set" for the command `set` under `secret` under `vm`. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at?.parent; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/**
 * With $BOVEDA_SERVER set, every command runs against that server: each leaf command's action is
 * replaced by its remote form, or by a refusal for commands that only make sense on the server's
 * machine. `keep` names the commands that handle the server themselves (login).
 */
export function useRemoteServer(program: Command, context: CommandContext, keep: ReadonlySet<string>): void {
  const visit = (command: Command) => {
    command.commands.forEach(visit);
    if (command.commands.length > 0 || !command.parent) return;
    const path = commandPath(command);
    if (keep.has(path)) return;
    const remote = REMOTE[path];
    command.action(async (...args: unknown[]) => {
      const options = args.at(-2) as Options;
      if (!remote) throw localOnly(path);
      if (options.now !== undefined) throw notRemotely('--now', 'works on the server\'s machine only (the server acts on its own clock)');
      const client = ApiClient.fromEnv(context.io.env);
      await remote(client, args.slice(0, -2) as string[], options, context);
    });
  };
  visit(program);
}
