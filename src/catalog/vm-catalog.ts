import type { Kysely, Selectable } from 'kysely';
import { BovedaError } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import type { CatalogSchema, VmDisksTable, VmsTable } from './schema.js';
import { isAbsolute } from 'node:path';
import type { QemuVmDefinition, VmChanges, VmDiskDefinition, VmInput, VmRecord } from './vm-definition.js';
import { checkNotes, checkScript, checkScriptTimeout, checkVmName, DEFAULT_SCRIPT_TIMEOUT_SECONDS, planDisks } from './vm-rules.js';

type Db = Kysely<CatalogSchema>;

/**
 * The protected VMs: their disks, scripts and notes. Each method is one transaction; every write
 * checks its input with vm-rules.ts first, so the tables only ever hold valid definitions.
 * Removing a VM removes only its definition: recovery points in the vault are not the catalog's.
 */
export class VmCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** Defines a new VM. VM_EXISTS when the name is taken; INVALID_ARGUMENT for a broken definition. */
  async add(input: VmInput): Promise<VmRecord> {
    const name = checkVmName(input.name);
    const disks = planDisks(name, [], input.disks);
    const preScript = checkScript('pre', input.preScript ?? null);
    const postScript = checkScript('post', input.postScript ?? null);
    const scriptTimeoutSeconds = checkScriptTimeout(input.scriptTimeoutSeconds ?? DEFAULT_SCRIPT_TIMEOUT_SECONDS);
    const notes = checkNotes(input.notes ?? null);
    const qemu = checkQemu(input.qemu ?? null);
    return this.#access.write(`add VM ${name}`, async (db) => {
      if (await findVmRow(db, name)) throw new BovedaError('VM_EXISTS', `VM ${name} already exists`);
      const now = this.#access.clock.now().toISOString();
      const { id } = await db
        .insertInto('vms')
        .values({
          name, created_at: now, updated_at: now, pre_script: preScript, post_script: postScript, script_timeout_seconds: scriptTimeoutSeconds, notes,
          // Only QEMU VMs write the columns of migration 3.
          ...(qemu ? { qmp_socket: qemu.qmpSocket, qga_socket: qemu.guestAgentSocket } : {}),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db.insertInto('vm_disks').values(disks.map((disk, position) => diskRow(id, disk, position))).execute();
      return loadVm(db, name);
    });
  }

  /** VM_NOT_FOUND when there is no VM of that name. */
  async get(name: string): Promise<VmRecord> {
    return this.#access.read(`read VM ${name}`, (db) => loadVm(db, name));
  }

  /** The VM, or null when there is none of that name. */
  async find(name: string): Promise<VmRecord | null> {
    return this.#access.read(`read VM ${name}`, async (db) => ((await findVmRow(db, name)) ? loadVm(db, name) : null));
  }

  /** Every VM, ordered by name. */
  async list(): Promise<VmRecord[]> {
    return this.#access.read('list VMs', async (db) => {
      const vms = await db.selectFrom('vms').selectAll().orderBy('name').execute();
      const disks = await db.selectFrom('vm_disks').selectAll().orderBy('vm_id').orderBy('position').execute();
      return vms.map((vm) => toRecord(vm, disks.filter((disk) => disk.vm_id === vm.id)));
    });
  }

  /** Deletes the definition and returns it; VM_NOT_FOUND when there is none. */
  async remove(name: string): Promise<VmRecord> {
    return this.#access.write(`remove VM ${name}`, async (db) => {
      const vm = await loadVm(db, name);
      const row = (await findVmRow(db, name))!;
      await db.deleteFrom('vm_disks').where('vm_id', '=', row.id).execute();
      await db.deleteFrom('vms').where('id', '=', row.id).execute();
      return vm;
    });
  }

  /**
   * Changes scripts, timeout, notes and disks (removals first, then additions; kept disks keep
   * their names and order). INVALID_ARGUMENT when `changes` changes nothing.
   */
  async update(name: string, changes: VmChanges): Promise<VmRecord> {
    const removeDisks = changes.removeDisks ?? [];
    const addDisks = changes.addDisks ?? [];
    const fields: Partial<Pick<Selectable<VmsTable>, 'pre_script' | 'post_script' | 'script_timeout_seconds' | 'notes'>> = {};
    if (changes.preScript !== undefined) fields.pre_script = checkScript('pre', changes.preScript);
    if (changes.postScript !== undefined) fields.post_script = checkScript('post', changes.postScript);
    if (changes.scriptTimeoutSeconds !== undefined) fields.script_timeout_seconds = checkScriptTimeout(changes.scriptTimeoutSeconds);
    if (changes.notes !== undefined) fields.notes = checkNotes(changes.notes);
    if (Object.keys(fields).length === 0 && removeDisks.length === 0 && addDisks.length === 0) {
      throw new BovedaError('INVALID_ARGUMENT', `nothing to change for VM ${name}`);
    }
    return this.#access.write(`update VM ${name}`, async (db) => {
      const before = await loadVm(db, name);
      const row = (await findVmRow(db, name))!;
      const disks = planDisks(name, before.disks, addDisks, removeDisks);
      if (removeDisks.length > 0) await db.deleteFrom('vm_disks').where('vm_id', '=', row.id).where('name', 'in', [...removeDisks]).execute();
      const kept = new Set(before.disks.map((disk) => disk.name));
      const added = disks.filter((disk) => !kept.has(disk.name) || removeDisks.includes(disk.name));
      if (added.length > 0) {
        const { last } = await db.selectFrom('vm_disks').select((eb) => eb.fn.max('position').as('last')).where('vm_id', '=', row.id).executeTakeFirstOrThrow();
        const first = last === null ? 0 : Number(last) + 1;
        await db.insertInto('vm_disks').values(added.map((disk, index) => diskRow(row.id, disk, first + index))).execute();
      }
      await db.updateTable('vms').set({ ...fields, updated_at: this.#access.clock.now().toISOString() }).where('id', '=', row.id).execute();
      return loadVm(db, name);
    });
  }
}

async function findVmRow(db: Db, name: string): Promise<Selectable<VmsTable> | undefined> {
  return db.selectFrom('vms').selectAll().where('name', '=', name).executeTakeFirst();
}

async function loadVm(db: Db, name: string): Promise<VmRecord> {
  const vm = await findVmRow(db, name);
  if (!vm) throw new BovedaError('VM_NOT_FOUND', `no VM named ${JSON.stringify(name)} (see "boveda vm list")`);
  const disks = await db.selectFrom('vm_disks').selectAll().where('vm_id', '=', vm.id).orderBy('position').execute();
  return toRecord(vm, disks);
}

function toRecord(vm: Selectable<VmsTable>, disks: Selectable<VmDisksTable>[]): VmRecord {
  return {
    name: vm.name,
    disks: disks.map((disk) => ({
      name: disk.name, path: disk.path, role: disk.role,
      ...((disk.qemu_qdev ?? null) !== null || (disk.qemu_node ?? null) !== null ? { qemu: { qdev: disk.qemu_qdev, node: disk.qemu_node } } : {}),
    })),
    ...((vm.qmp_socket ?? null) === null ? {} : { qemu: { qmpSocket: vm.qmp_socket!, guestAgentSocket: vm.qga_socket ?? null } }),
    preScript: vm.pre_script,
    postScript: vm.post_script,
    scriptTimeoutSeconds: vm.script_timeout_seconds,
    createdAt: vm.created_at,
    updatedAt: vm.updated_at,
    notes: vm.notes,
  };
}

function diskRow(vmId: number, disk: VmDiskDefinition, position: number) {
  const row = { vm_id: vmId, name: disk.name, path: disk.path, role: disk.role, position };
  return disk.qemu ? { ...row, qemu_qdev: disk.qemu.qdev, qemu_node: disk.qemu.node } : row;
}

/** A QEMU VM's sockets: absolute paths (the guest agent's only with a QMP socket). */
function checkQemu(qemu: QemuVmDefinition | null): QemuVmDefinition | null {
  if (qemu === null) return null;
  for (const path of [qemu.qmpSocket, qemu.guestAgentSocket]) {
    if (path !== null && (typeof path !== 'string' || !isAbsolute(path) || path.includes('\0'))) {
      throw new BovedaError('INVALID_ARGUMENT', `QEMU socket path ${JSON.stringify(path)} must be an absolute path`);
    }
  }
  return { qmpSocket: qemu.qmpSocket, guestAgentSocket: qemu.guestAgentSocket };
}
