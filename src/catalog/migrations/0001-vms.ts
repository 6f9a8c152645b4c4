import { sql, type Kysely } from 'kysely';
import type { Migration } from './migration.js';

/** Issue 3: protected VMs and their disks. */
export const migration0001: Migration = {
  version: 1,
  name: 'vms',
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('vms')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('name', 'text', (column) => column.notNull().unique())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addColumn('pre_script', 'text')
      .addColumn('post_script', 'text')
      .addColumn('script_timeout_seconds', 'integer', (column) => column.notNull().check(sql`script_timeout_seconds > 0`))
      .addColumn('notes', 'text')
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema
      .createTable('vm_disks')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('vm_id', 'integer', (column) => column.notNull().references('vms.id').onDelete('cascade'))
      .addColumn('name', 'text', (column) => column.notNull())
      .addColumn('path', 'text', (column) => column.notNull())
      .addColumn('role', 'text', (column) => column.notNull().check(sql`role in ('os', 'data', 'temp')`))
      .addColumn('position', 'integer', (column) => column.notNull())
      .addUniqueConstraint('vm_disks_vm_name', ['vm_id', 'name'])
      .addUniqueConstraint('vm_disks_vm_path', ['vm_id', 'path'])
      .addUniqueConstraint('vm_disks_vm_position', ['vm_id', 'position'])
      .modifyEnd(sql`strict`)
      .execute();
  },
};
