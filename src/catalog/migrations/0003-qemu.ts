import { sql, type Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Issue 5: QEMU VMs. A VM may name the QMP socket of a running QEMU (a monitor for Boveda) and a
 * guest-agent socket; each disk may name how QEMU knows it (qdev path and/or block node name).
 * Null everywhere for file/block-device VMs, so existing catalogs upgrade without touching a row.
 * Frozen: fix mistakes with a later migration.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'qemu',
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('vms').addColumn('qmp_socket', 'text', (column) => column.check(sql`qmp_socket is null or length(qmp_socket) > 0`)).execute();
    await db.schema.alterTable('vms').addColumn('qga_socket', 'text', (column) => column.check(sql`qga_socket is null or length(qga_socket) > 0`)).execute();
    await db.schema.alterTable('vm_disks').addColumn('qemu_qdev', 'text', (column) => column.check(sql`qemu_qdev is null or length(qemu_qdev) > 0`)).execute();
    await db.schema.alterTable('vm_disks').addColumn('qemu_node', 'text', (column) => column.check(sql`qemu_node is null or length(qemu_node) > 0`)).execute();
  },
};
