import { sql, type Kysely } from 'kysely';
import type { Migration } from './migration.js';

/**
 * Issue 6: the server — users, their tokens and sessions, the audit log, the disk-encryption
 * secrets VMs carry into their recovery points, and usage samples for charts over time.
 * Frozen: fix mistakes with a later migration.
 * - Passwords and tokens are stored only as hashes (the app chooses the scheme; the text says which).
 * - Audit rows are append-only (nothing in Boveda updates or deletes them).
 * - Secrets are stored encrypted by the app (the catalog sees opaque bytes), keyed by VM NAME like
 *   the lifecycle tables, so a VM removed and re-added finds them again.
 */
export const migration0004: Migration = {
  version: 4,
  name: 'server',
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('users')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('name', 'text', (column) => column.notNull().unique().check(sql`length(name) > 0`))
      .addColumn('role', 'text', (column) => column.notNull().check(sql`role in ('reader', 'operator', 'contributor', 'admin')`))
      .addColumn('password_hash', 'text', (column) => column.notNull().check(sql`length(password_hash) > 0`))
      .addColumn('key_restore', 'integer', (column) => column.notNull().defaultTo(0).check(sql`key_restore in (0, 1)`))
      .addColumn('disabled', 'integer', (column) => column.notNull().defaultTo(0).check(sql`disabled in (0, 1)`))
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addColumn('password_changed_at', 'text', (column) => column.notNull())
      .modifyEnd(sql`strict`)
      .execute();

    await db.schema
      .createTable('tokens')
      .addColumn('id', 'text', (column) => column.primaryKey().check(sql`length(id) > 0`))
      .addColumn('user_id', 'integer', (column) => column.notNull().references('users.id').onDelete('cascade'))
      .addColumn('kind', 'text', (column) => column.notNull().check(sql`kind in ('session', 'api')`))
      .addColumn('name', 'text')
      .addColumn('secret_hash', 'text', (column) => column.notNull().unique())
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .addColumn('created_from', 'text')
      .addCheckConstraint('tokens_sessions_expire', sql`kind <> 'session' or expires_at is not null`)
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();

    await db.schema
      .createTable('audit_log')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('time', 'text', (column) => column.notNull())
      .addColumn('user_name', 'text', (column) => column.notNull())
      .addColumn('source', 'text', (column) => column.notNull())
      .addColumn('action', 'text', (column) => column.notNull().check(sql`length(action) > 0`))
      .addColumn('target', 'text')
      .addColumn('outcome', 'text', (column) => column.notNull().check(sql`outcome in ('succeeded', 'failed', 'refused')`))
      .addColumn('details', 'text', (column) => column.check(sql`details is null or json_valid(details)`))
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema.createIndex('audit_log_time').on('audit_log').column('time').execute();

    await db.schema
      .createTable('vm_secrets')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('vm_name', 'text', (column) => column.notNull().check(sql`length(vm_name) > 0`))
      .addColumn('name', 'text', (column) => column.notNull().check(sql`length(name) > 0`))
      .addColumn('kind', 'text', (column) => column.notNull().check(sql`length(kind) > 0`))
      .addColumn('sealed', 'blob', (column) => column.notNull())
      .addColumn('size_bytes', 'integer', (column) => column.notNull().check(sql`size_bytes >= 0`))
      .addColumn('created_at', 'text', (column) => column.notNull())
      .addColumn('updated_at', 'text', (column) => column.notNull())
      .addUniqueConstraint('vm_secrets_vm_name', ['vm_name', 'name'])
      .modifyEnd(sql`strict`)
      .execute();

    await db.schema
      .createTable('usage_samples')
      .addColumn('id', 'integer', (column) => column.primaryKey())
      .addColumn('time', 'text', (column) => column.notNull())
      // Null: the whole vault; else one VM.
      .addColumn('vm_name', 'text')
      .addColumn('protected_bytes', 'integer', (column) => column.notNull().check(sql`protected_bytes >= 0`))
      .addColumn('stored_bytes', 'integer', (column) => column.notNull().check(sql`stored_bytes >= 0`))
      .addColumn('points', 'integer', (column) => column.notNull().check(sql`points >= 0`))
      .modifyEnd(sql`strict`)
      .execute();
    await db.schema.createIndex('usage_samples_vm_time').on('usage_samples').columns(['vm_name', 'time']).execute();
  },
};
