import { Type } from '@sinclair/typebox';
import {
  checkAllowedPath, checkRestore, deleteProtectedData, listVmPoints, protectVm, resumeProtection, retentionOf, runBackupJob, runRestoreJob,
  stopProtectionRetainingData, undeleteProtection,
} from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { Body, JOB_STARTED, Name, Path, VmParams } from '../schemas.js';

const DAY_MS = 86_400_000;

/** A restore as a new VM (like `restore --as-vm NAME [--memory] [--cpus] [--kvm]`); the bounds are checked by checkRestore. */
const AsVm = Body({
  name: Name('the new VM\'s name: its <name>.qemu.sh and <name>.libvirt.xml are written next to the images'),
  memoryMiB: Type.Optional(Type.Integer({ description: 'memory in MiB (16 to 16777216; default 2048)' })),
  cpus: Type.Optional(Type.Integer({ description: 'virtual CPUs (1 to 1024; default 2)' })),
  kvm: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], { description: 'auto (default): KVM when /dev/kvm is usable where the script runs' })),
});

export function protectionRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'POST', url: '/api/vms/:name/protect', summary: 'protect the VM under a policy', permission: 'configure',
      schema: { params: VmParams, body: Body({ policy: Name('policy name') }) },
      handler: async ({ app, params, body }) => ({ body: { item: await protectVm(app, params.name, body.policy) } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/stop-protection', summary: 'stop backups, keeping the data; deleteData:true also deletes it (destroy, audited)', permission: 'configure',
      schema: { params: VmParams, body: Body({ deleteData: Type.Optional(Type.Boolean()) }) },
      handler: async (context) => {
        const { app, params, body } = context;
        if (body.deleteData) {
          context.require('destroy', { action: 'protection.delete-data', target: `vm:${params.name}`, details: { from: 'protected' } });
          return { body: await deleteProtectedData(app, params.name, 'protected') };
        }
        return { body: { item: await stopProtectionRetainingData(app, params.name) } };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/resume', summary: 'resume backups of a VM stopped with its data kept (optionally under another policy)', permission: 'configure',
      schema: { params: VmParams, body: Body({ policy: Type.Optional(Name('policy name')) }) },
      handler: async ({ app, params, body }) => ({ body: { item: await resumeProtection(app, params.name, body.policy) } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/delete-data', summary: 'delete the VM\'s backup data: soft delete (14 days), or purge when soft delete is off (audited)', permission: 'destroy',
      audit: (params) => ({ action: 'protection.delete-data', target: `vm:${params.name}` }),
      schema: { params: VmParams },
      handler: async ({ app, params }) => ({ body: await deleteProtectedData(app, params.name, 'either') }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/undelete', summary: 'bring back soft-deleted data (stopped, data kept)', permission: 'configure', schema: { params: VmParams },
      handler: async ({ app, params }) => ({ body: { item: await undeleteProtection(app, params.name) } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/backups', summary: 'on-demand backup: a job (202); the point expires after retainDays (default 30) or at retainUntil', permission: 'operate',
      schema: {
        params: VmParams,
        body: Body({
          retainDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 36_500 })), retainUntil: Type.Optional(Type.String({ format: 'date-time', maxLength: 64 })),
          snapshot: Type.Optional(Type.Boolean({ description: 'read from a reflink clone (default true; false reads disks in place)' })),
          verifyTracking: Type.Optional(Type.Boolean({ description: 'QEMU VMs: also read every allocated block; the job result\'s trackingMissedBlocks counts changed blocks the dirty bitmaps missed' })),
        }),
        response: JOB_STARTED,
      },
      handler: async ({ app, params, body, startJob }) => {
        if (body.retainDays !== undefined && body.retainUntil !== undefined) throw new BovedaError('INVALID_ARGUMENT', 'give retainDays or retainUntil, not both');
        await app.catalog.vms.get(params.name);
        const now = app.clock.now().getTime();
        const expiresAt = body.retainUntil !== undefined ? new Date(body.retainUntil) : new Date(now + (body.retainDays ?? 30) * DAY_MS);
        if (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= now) throw new BovedaError('INVALID_ARGUMENT', `retainUntil ${JSON.stringify(body.retainUntil)} must be a time in the future`);
        const job = await startJob({ type: 'backup', item: params.name, trigger: 'on-demand', exclusiveWith: ['backup'] },
          (queued, signal) => runBackupJob(app, params.name, { trigger: 'on-demand', expiresAt, snapshot: body.snapshot, verifyTracking: body.verifyTracking, signal }, queued));
        return { status: 202, body: { job } };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/vms/:name/points', summary: 'the VM\'s recovery points, oldest first, with what retention says of each and bytes per point', permission: 'view',
      schema: { params: VmParams },
      handler: async ({ app, params, signal }) => {
        const listed = await listVmPoints(await app.vault(), params.name, signal);
        const retention = await retentionOf(app, params.name, listed);
        return {
          body: {
            points: listed.map((point) => {
              const decision = retention.get(point.id)!;
              return { ...point, retention: { keep: decision.keep, reasons: decision.reasons, keepUntil: decision.keepUntil } };
            }),
          },
        };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/restores', summary: 'restore a point (default the latest) to new images in an allowed directory (asVm: as a new VM with a QEMU script and libvirt XML), or replace the VM\'s own disks: a job (202)', permission: 'operate',
      schema: {
        params: VmParams,
        body: Body({
          point: Type.Optional(Type.String({ minLength: 4, maxLength: 128, description: 'point id or unique prefix' })),
          disks: Type.Optional(Type.Array(Name('disk name'), { minItems: 1, maxItems: 64 })),
          target: Type.Union([
            Body({
              kind: Type.Literal('directory'), path: Path('directory for <disk>.img / <disk>.qcow2'),
              format: Type.Optional(Type.Union([Type.Literal('raw'), Type.Literal('qcow2')], { description: 'default raw; qcow2 with asVm' })), force: Type.Optional(Type.Boolean()),
              asVm: Type.Optional(AsVm),
            }),
            Body({ kind: Type.Literal('replace') }),
          ]),
        }),
        response: JOB_STARTED,
      },
      handler: async ({ app, params, body, allowedPaths, startJob }) => {
        // A replace writes the VM's own registered disks (checked when they were added).
        const target = body.target.kind === 'directory'
          ? { kind: 'directory' as const, path: await checkAllowedPath(body.target.path, allowedPaths), format: body.target.format, force: body.target.force, asVm: body.target.asVm }
          : { kind: 'replace' as const };
        const request = { vmName: params.name, point: body.point, disks: body.disks, target };
        await checkRestore(app, request);
        const job = await startJob({ type: 'restore', item: params.name, trigger: 'on-demand' }, (queued, signal) => runRestoreJob(app, request, { signal }, queued));
        return { status: 202, body: { job } };
      },
    }),
  ];
}
