import type { Kysely, Selectable } from 'kysely';
import { BovedaError, type Role } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkName } from './catalog-values.js';
import type { CatalogSchema, UsersTable } from './schema.js';

type Db = Kysely<CatalogSchema>;

/** A server user as stored: the password only as the app's self-describing hash text. */
export interface StoredUser {
  name: string;
  role: Role;
  passwordHash: string;
  keyRestore: boolean;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  passwordChangedAt: string;
}

export interface NewUser {
  name: string;
  role: Role;
  passwordHash: string;
  keyRestore?: boolean;
  disabled?: boolean;
}

export interface UserChanges {
  role?: Role;
  passwordHash?: string;
  keyRestore?: boolean;
  disabled?: boolean;
}

/**
 * Server users, by name. The app validates names, roles and passwords and hashes passwords; this
 * part keeps the invariants that need a transaction:
 * - names are unique (USER_EXISTS);
 * - at least one enabled admin remains once there is one: removing, demoting or disabling the last
 *   enabled admin is LAST_ADMIN, checked under the write lock so two admins demoting each other at
 *   once cannot both succeed;
 * - a password change or disabling deletes the user's sessions in the same transaction (no window
 *   where an old session still works); API tokens stay (a disabled user's are refused by the app);
 * - removing a user removes its tokens and sessions (foreign key, on delete cascade);
 * - createFirst creates a user only in a catalog without any, atomically across processes.
 */
export class UserCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** Stores a new user. USER_EXISTS when the name is taken. */
  async create(user: NewUser): Promise<StoredUser> {
    const name = checkName(user.name, 'user name');
    return this.#access.write(`create user ${name}`, async (db) => {
      if (await findRow(db, name)) throw new BovedaError('USER_EXISTS', `user ${name} already exists`);
      return insert(db, user, this.#access.clock.now().toISOString());
    });
  }

  /**
   * Stores `user` only when the catalog has no user at all (first start); null otherwise. BEGIN
   * IMMEDIATE makes the check and the insert one step: two processes starting at once create one.
   */
  async createFirst(user: NewUser): Promise<StoredUser | null> {
    checkName(user.name, 'user name');
    return this.#access.write(`create first user ${user.name}`, async (db) => {
      const { count } = await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
      if (Number(count) > 0) return null;
      return insert(db, user, this.#access.clock.now().toISOString());
    });
  }

  /** USER_NOT_FOUND when there is none of that name. */
  async get(name: string): Promise<StoredUser> {
    return this.#access.read(`read user ${name}`, async (db) => toStoredUser(await getRow(db, name)));
  }

  async find(name: string): Promise<StoredUser | null> {
    return this.#access.read(`read user ${name}`, async (db) => {
      const row = await findRow(db, name);
      return row ? toStoredUser(row) : null;
    });
  }

  /** Every user, ordered by name. */
  async list(): Promise<StoredUser[]> {
    return this.#access.read('list users', async (db) => (await db.selectFrom('users').selectAll().orderBy('name').execute()).map(toStoredUser));
  }

  async count(): Promise<number> {
    return this.#access.read('count users', async (db) => Number((await db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()).count));
  }

  /**
   * Applies `changes` (absent fields stay). USER_NOT_FOUND; LAST_ADMIN when the user is the last
   * enabled admin and would stop being one. A new password hash sets passwordChangedAt; it and
   * disabling delete the user's sessions.
   */
  async update(name: string, changes: UserChanges): Promise<StoredUser> {
    return this.#access.write(`update user ${name}`, async (db) => {
      const row = await getRow(db, name);
      const role = changes.role ?? row.role;
      const disabled = changes.disabled ?? row.disabled === 1;
      if (isEnabledAdmin(row) && (role !== 'admin' || disabled)) await checkNotLastAdmin(db, row, disabled ? 'disable' : 'demote');
      const now = this.#access.clock.now().toISOString();
      await db.updateTable('users').set({
        role,
        disabled: disabled ? 1 : 0,
        key_restore: changes.keyRestore === undefined ? row.key_restore : changes.keyRestore ? 1 : 0,
        updated_at: now,
        ...(changes.passwordHash === undefined ? {} : { password_hash: checkName(changes.passwordHash, 'password hash'), password_changed_at: now }),
      }).where('id', '=', row.id).execute();
      if (changes.passwordHash !== undefined || (disabled && row.disabled === 0)) {
        await db.deleteFrom('tokens').where('user_id', '=', row.id).where('kind', '=', 'session').execute();
      }
      return toStoredUser(await getRow(db, name));
    });
  }

  /** Deletes the user with its tokens and sessions and returns it. USER_NOT_FOUND; LAST_ADMIN. */
  async remove(name: string): Promise<StoredUser> {
    return this.#access.write(`remove user ${name}`, async (db) => {
      const row = await getRow(db, name);
      if (isEnabledAdmin(row)) await checkNotLastAdmin(db, row, 'remove');
      await db.deleteFrom('users').where('id', '=', row.id).execute();
      return toStoredUser(row);
    });
  }
}

type UserRow = Selectable<UsersTable>;

async function insert(db: Db, user: NewUser, now: string): Promise<StoredUser> {
  await db.insertInto('users').values({
    name: user.name, role: user.role, password_hash: checkName(user.passwordHash, 'password hash'),
    key_restore: user.keyRestore ? 1 : 0, disabled: user.disabled ? 1 : 0,
    created_at: now, updated_at: now, password_changed_at: now,
  }).execute();
  return toStoredUser((await findRow(db, user.name))!);
}

function isEnabledAdmin(row: UserRow): boolean {
  return row.role === 'admin' && row.disabled === 0;
}

async function checkNotLastAdmin(db: Db, row: UserRow, verb: 'remove' | 'demote' | 'disable'): Promise<void> {
  const others = await db.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled', '=', 0).where('id', '<>', row.id).limit(1).execute();
  if (others.length === 0) {
    throw new BovedaError('LAST_ADMIN', `cannot ${verb} user ${row.name}: it is the last enabled admin (make another user admin first)`);
  }
}

async function findRow(db: Db, name: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
}

async function getRow(db: Db, name: string): Promise<UserRow> {
  const row = await findRow(db, name);
  if (!row) throw new BovedaError('USER_NOT_FOUND', `no user named ${JSON.stringify(name)}`);
  return row;
}

/** A users row as a StoredUser (the token catalog's findWithUser uses it too). */
export function toStoredUser(row: UserRow): StoredUser {
  return {
    name: row.name, role: row.role, passwordHash: row.password_hash, keyRestore: row.key_restore === 1, disabled: row.disabled === 1,
    createdAt: row.created_at, updatedAt: row.updated_at, passwordChangedAt: row.password_changed_at,
  };
}
