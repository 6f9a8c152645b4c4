import { sql, type Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Issue 4: the protection lifecycle — policies, protected items, the recovery-point mirror, jobs,
 * scheduler slot claims and vault-wide settings. Frozen: fix mistakes with a later migration.
 * Lists that may grow (job types) are not CHECKed, so adding one needs no table rebuild; lists the
 * domain fixes (item states, job statuses, point types) are.
 */
export const migration0002: Migration = {
  version: 2,
  name: 'lifecycle',
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('policies')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('name', 'text', (column) => column.notNull().unique().check(sql`length(name) > 0`))
      .addColumn('definition', 'text', (column) => column.notNull().check(sql`json_valid(definition)`))
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .modifyEnd(sql`strict`)
      .execute();

    await db.schema
      .createTable('protected_items')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('vm_name', 'text', (column) => column.notNull().unique().check(sql`length(vm_name) > 0`))
      .addColumn('policy_id', 'integer', (column) => column.references('policies.id').onDelete('restrict'))
      .addColumn('state', 'text', (column) => column.notNull().check(sql`state in ('protected', 'stopped-retain', 'soft-deleted')`))
      .addColumn('protected_at', 'text', (column) => column.notNull())
      .addColumn('stopped_at', 'text')
      .addColumn('soft_deleted_at', 'text')
      .addColumn('purge_after', 'text')
      .addColumn('state_before_delete', 'text', (column) => column.check(sql`state_before_delete in ('protected', 'stopped-retain')`))
      .addColumn('first_backup_at', 'text')
      .addColumn('last_slot', 'text')
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addCheckConstraint('protected_items_protected_has_policy', sql`state <> 'protected' or policy_id is not null`)
      .addCheckConstraint('protected_items_soft_deleted_times', sql`state <> 'soft-deleted' or (soft_deleted_at is not null and purge_after is not null)`)
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema.createIndex('protected_items_policy').on('protected_items').column('policy_id').execute();

    await db.schema
      .createTable('recovery_points')
      .addColumn('id', 'text', (column) => column.primaryKey().check(sql`length(id) > 0`))
      .addColumn('vm_name', 'text', (column) => column.notNull())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('parent_id', 'text')
      .addColumn('type', 'text', (column) => column.notNull().check(sql`type in ('full', 'incremental')`))
      .addColumn('trigger', 'text', (column) => column.notNull().check(sql`trigger in ('scheduled', 'on-demand')`))
      .addColumn('consistency', 'text', (column) => column.notNull().check(sql`consistency in ('application', 'file-system', 'crash')`))
      .addColumn('expires_at', 'text')
      .addColumn('logical_bytes', 'integer', (column) => column.notNull().check(sql`logical_bytes >= 0`))
      .addColumn('protected_bytes', 'integer', (column) => column.notNull().check(sql`protected_bytes >= 0`))
      .addColumn('referenced_bytes', 'integer')
      .addColumn('introduced_bytes', 'integer')
      .addColumn('unique_bytes', 'integer')
      .addColumn('introduced_stored_bytes', 'integer')
      .addColumn('unique_stored_bytes', 'integer')
      .addColumn('meta', 'text', (column) => column.notNull().check(sql`json_valid(meta)`))
      .addColumn('synced_at', 'text', (column) => column.notNull())
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema.createIndex('recovery_points_vm').on('recovery_points').columns(['vm_name', 'created_at']).execute();

    await db.schema
      .createTable('jobs')
      .addColumn('seq', 'integer', (column) => column.primaryKey())
      .addColumn('id', 'text', (column) => column.notNull().unique())
      .addColumn('type', 'text', (column) => column.notNull())
      .addColumn('item', 'text')
      .addColumn('trigger', 'text', (column) => column.notNull().check(sql`trigger in ('scheduled', 'on-demand')`))
      .addColumn('status', 'text', (column) =>
        column.notNull().check(sql`status in ('queued', 'in-progress', 'completed', 'completed-with-warnings', 'failed', 'cancelled')`))
      .addColumn('queued_at', 'text', (column) => column.notNull())
      .addColumn('started_at', 'text')
      .addColumn('ended_at', 'text')
      .addColumn('bytes_done', 'integer', (column) => column.notNull().defaultTo(0))
      .addColumn('bytes_total', 'integer')
      .addColumn('percent', 'real')
      .addColumn('bytes_per_second', 'real')
      .addColumn('warnings', 'text', (column) => column.notNull().defaultTo('[]').check(sql`json_valid(warnings)`))
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('result', 'text', (column) => column.check(sql`result is null or json_valid(result)`))
      .addColumn('cancel_requested', 'integer', (column) => column.notNull().defaultTo(0).check(sql`cancel_requested in (0, 1)`))
      .addColumn('slot', 'text')
      .addColumn('owner', 'text')
      .addColumn('heartbeat_at', 'text')
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema.createIndex('jobs_status').on('jobs').column('status').execute();
    await db.schema.createIndex('jobs_item').on('jobs').columns(['item', 'type', 'status']).execute();

    await db.schema
      .createTable('schedule_claims')
      .addColumn('vm_name', 'text', (column) => column.notNull())
      .addColumn('slot', 'text', (column) => column.notNull())
      .addColumn('job_id', 'text', (column) => column.notNull().references('jobs.id'))
      .addColumn('claimed_at', 'text', (column) => column.notNull())
      .addPrimaryKeyConstraint('schedule_claims_pk', ['vm_name', 'slot'])
      .modifyEnd(sql`strict`)
      .execute();

    await db.schema
      .createTable('settings')
      .addColumn('key', 'text', (column) => column.primaryKey().check(sql`length(key) > 0`))
      .addColumn('value', 'text', (column) => column.notNull().check(sql`json_valid(value)`))
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .modifyEnd(sql`strict`)
      .execute();
  },
};
