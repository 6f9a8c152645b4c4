import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { Type } from '@sinclair/typebox';
import { checkAllowedPath, DISK_ROLES, VmService, type AppContext, type VmRecord } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { Body, MAX_NAME, Name, Path, Script, VmParams } from '../schemas.js';

const DiskRoleSchema = Type.Union(DISK_ROLES.map((role) => Type.Literal(role)));
const Disk = Body({
  path: Path('the disk: an image file or block device inside the allowed directories'),
  role: Type.Optional(DiskRoleSchema),
  name: Type.Optional(Name('disk name')),
});
const Scripts = {
  preScript: Type.Optional(Type.Union([Script, Type.Null()])),
  postScript: Type.Optional(Type.Union([Script, Type.Null()])),
  scriptTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  notes: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
};

/** A VM with its protection state, latest point and last backup job: the list and page of the UI. */
export async function vmSummary(app: AppContext, vm: VmRecord) {
  const [item, totals, lastBackup] = await Promise.all([
    app.catalog.items.find(vm.name), app.catalog.points.totals(vm.name), app.catalog.jobs.list({ item: vm.name, type: 'backup', limit: 1 }),
  ]);
  const total = totals[0];
  return {
    ...vm,
    protection: item ? { state: item.state, policyName: item.policyName, purgeAfter: item.purgeAfter, firstBackupAt: item.firstBackupAt } : null,
    points: total?.points ?? 0,
    latestPoint: total ? { id: total.latestPointId, createdAt: total.newestAt, protectedBytes: total.latestProtectedBytes } : null,
    lastBackupJob: lastBackup[0] ?? null,
  };
}

async function allowedDisks<T extends { path: string }>(disks: readonly T[] | undefined, roots: readonly string[]): Promise<T[]> {
  const checked: T[] = [];
  for (const disk of disks ?? []) checked.push({ ...disk, path: await checkAllowedPath(disk.path, roots) });
  return checked;
}

/**
 * A QMP socket is not a disk, so it need not be in the allowed directories; but it must be an
 * absolute path to a socket that exists (a clear 400 rather than a failed connection).
 */
async function checkSocket(path: string, field: string): Promise<void> {
  if (!isAbsolute(path)) throw new BovedaError('INVALID_ARGUMENT', `body/${field} ${JSON.stringify(path)} must be an absolute path`);
  const found = await stat(path).catch(() => null);
  if (!found?.isSocket()) throw new BovedaError('INVALID_ARGUMENT', `body/${field} ${JSON.stringify(path)} is not a unix socket on the server (${found ? 'not a socket' : 'no such file'}): start QEMU with a QMP monitor on it first`);
}

export function vmRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/vms', summary: 'VMs with disks, protection state, latest point and last backup job', permission: 'view', schema: {},
      handler: async ({ app }) => ({ body: { vms: await Promise.all((await app.catalog.vms.list()).map((vm) => vmSummary(app, vm))) } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vms', summary: 'add a VM: its disks (paths inside the allowed directories), or a running QEMU VM whose disks are discovered over QMP', permission: 'configure',
      schema: {
        body: Body({
          name: Name('VM name'), disks: Type.Optional(Type.Array(Disk, { minItems: 1, maxItems: 64 })), ...Scripts,
          qemu: Type.Optional(Body({
            qmpSocket: Path('QMP socket of the running VM (absolute; need not be in the allowed directories)'), qgaSocket: Type.Optional(Path('guest agent socket (absolute)')),
            diskRoles: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: MAX_NAME * 4 }), DiskRoleSchema, {
              maxProperties: 64, description: 'the role of a discovered disk, by qdev path, device id (vda) or node name (like vm add --disk-role)',
            })),
            exclude: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: MAX_NAME * 4 }), { maxItems: 64, description: 'discovered disks never backed up (stored as temp; like --exclude)' })),
          })),
        }),
      },
      handler: async ({ app, body, allowedPaths }) => {
        const service = new VmService(app.catalog);
        if (body.qemu) {
          if (body.disks) throw new BovedaError('INVALID_ARGUMENT', 'a QEMU VM\'s disks are discovered over QMP: leave out "disks"');
          const { qmpSocket, qgaSocket, diskRoles, exclude } = body.qemu;
          await checkSocket(qmpSocket, 'qemu/qmpSocket');
          if (qgaSocket !== undefined && !isAbsolute(qgaSocket)) throw new BovedaError('INVALID_ARGUMENT', `body/qemu/qgaSocket ${JSON.stringify(qgaSocket)} must be an absolute path`);
          const vm = await service.addQemuVm({
            name: body.name, qmpSocket, guestAgentSocket: qgaSocket ?? null, roles: new Map(Object.entries(diskRoles ?? {})), exclude,
            preScript: body.preScript, postScript: body.postScript, scriptTimeoutSeconds: body.scriptTimeoutSeconds, notes: body.notes,
          });
          try {
            await allowedDisks(vm.disks, allowedPaths);
          } catch (error) {
            await service.removeVm(vm.name);
            throw error;
          }
          return { status: 201, body: { vm: await vmSummary(app, vm) } };
        }
        if (!body.disks) throw new BovedaError('INVALID_ARGUMENT', 'body/disks: a VM needs at least one disk (or "qemu" for a running QEMU VM)');
        const { qemu: _qemu, ...input } = body;
        const vm = await service.addVm({ ...input, disks: await allowedDisks(body.disks, allowedPaths) });
        return { status: 201, body: { vm: await vmSummary(app, vm) } };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/vms/:name', summary: 'one VM, with each disk present or missing now', permission: 'view', schema: { params: VmParams },
      handler: async ({ app, params }) => {
        const status = await new VmService(app.catalog).describeVm(params.name);
        return { body: { vm: await vmSummary(app, status.vm), disks: status.disks, qemu: status.qemu ?? null } };
      },
    }),
    defineRoute({
      method: 'PATCH', url: '/api/vms/:name', summary: 'change scripts and notes; remove disks (by name), then add disks', permission: 'configure',
      schema: { params: VmParams, body: Body({ ...Scripts, removeDisks: Type.Optional(Type.Array(Name('disk name'), { maxItems: 64 })), addDisks: Type.Optional(Type.Array(Disk, { maxItems: 64 })) }) },
      handler: async ({ app, params, body, allowedPaths }) => {
        const vm = await new VmService(app.catalog).updateVm(params.name, { ...body, addDisks: await allowedDisks(body.addDisks, allowedPaths) });
        return { body: { vm: await vmSummary(app, vm) } };
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/vms/:name', summary: 'forget the VM\'s definition (its recovery points stay)', permission: 'configure', schema: { params: VmParams },
      handler: async ({ app, params }) => ({ body: { vm: await new VmService(app.catalog).removeVm(params.name) } }),
    }),
  ];
}
