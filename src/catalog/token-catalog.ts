import type { Kysely, Selectable } from 'kysely';
import { BovedaError } from '../core/index.js';
import type { CatalogAccess } from './catalog-access.js';
import { checkName, isoTime, isoTimeOrNull, type TimeInput } from './catalog-values.js';
import type { CatalogSchema, TokensTable } from './schema.js';
import { toStoredUser, type StoredUser } from './user-catalog.js';

type Db = Kysely<CatalogSchema>;

export type TokenKind = 'session' | 'api';

/** A login session or API token as stored: only a hash of its secret (the app chooses the hash). */
export interface StoredToken {
  id: string;
  userName: string;
  kind: TokenKind;
  name: string | null;
  secretHash: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdFrom: string | null;
}

export interface NewToken {
  id: string;
  userName: string;
  kind: TokenKind;
  name?: string | null;
  secretHash: string;
  /** Required for sessions (a CHECK constraint too). */
  expiresAt?: TimeInput | null;
  createdFrom?: string | null;
}

export interface TokenFilter {
  userName?: string;
  kind?: TokenKind;
  /** Leave out tokens whose expiry is at or before this time. */
  unexpiredAt?: TimeInput;
}

/**
 * Login sessions and API tokens of users, by their public id. The catalog stores what the app gives
 * (id, kind, secret hash, expiry) and checks that the user exists; the app makes and checks secrets.
 * Tokens go with their user (on delete cascade); sessions also go when the user's password changes
 * or the user is disabled (UserCatalog.update).
 */
export class TokenCatalog {
  readonly #access: CatalogAccess;

  constructor(access: CatalogAccess) {
    this.#access = access;
  }

  /** USER_NOT_FOUND when the user does not exist. */
  async create(token: NewToken): Promise<StoredToken> {
    const id = checkName(token.id, 'token id');
    const secretHash = checkName(token.secretHash, 'token secret hash');
    if (token.kind === 'session' && !token.expiresAt) throw new BovedaError('INVALID_ARGUMENT', `session ${id} needs an expiry time`);
    const expiresAt = isoTimeOrNull(token.expiresAt ?? null, this.#access.clock, `expiry of token ${id}`);
    return this.#access.write(`create token ${id}`, async (db) => {
      const user = await db.selectFrom('users').select('id').where('name', '=', token.userName).executeTakeFirst();
      if (!user) throw new BovedaError('USER_NOT_FOUND', `no user named ${JSON.stringify(token.userName)}`);
      await db.insertInto('tokens').values({
        id, user_id: user.id, kind: token.kind, name: token.name ?? null, secret_hash: secretHash,
        created_at: this.#access.clock.now().toISOString(), expires_at: expiresAt, last_used_at: null, created_from: token.createdFrom ?? null,
      }).execute();
      return toStored((await findRow(db, id))!);
    });
  }

  /** TOKEN_NOT_FOUND when there is no token with that id. */
  async get(id: string): Promise<StoredToken> {
    return this.#access.read(`read token ${id}`, async (db) => toStored(await getRow(db, id)));
  }

  /** The token and its user in one snapshot (what authentication needs), or null. */
  async findWithUser(id: string): Promise<{ token: StoredToken; user: StoredUser } | null> {
    return this.#access.read(`read token ${id}`, async (db) => {
      const row = await findRow(db, id);
      if (!row) return null;
      const user = await db.selectFrom('users').selectAll().where('id', '=', row.user_id).executeTakeFirstOrThrow();
      return {
        token: toStored(row),
        user: toStoredUser(user),
      };
    });
  }

  /** Tokens matching `filter`, oldest first. */
  async list(filter: TokenFilter = {}): Promise<StoredToken[]> {
    return this.#access.read('list tokens', async (db) => {
      // rowid: creation order among tokens created in the same millisecond.
      let query = selectTokens(db).orderBy('tokens.created_at').orderBy(db.dynamic.ref<'tokens.rowid'>('tokens.rowid'));
      if (filter.userName !== undefined) query = query.where('users.name', '=', filter.userName);
      if (filter.kind !== undefined) query = query.where('tokens.kind', '=', filter.kind);
      if (filter.unexpiredAt !== undefined) {
        const at = isoTime(filter.unexpiredAt, this.#access.clock, 'token expiry filter');
        query = query.where((eb) => eb.or([eb('tokens.expires_at', 'is', null), eb('tokens.expires_at', '>', at)]));
      }
      return (await query.execute()).map(toStored);
    });
  }

  /** Records a use of the token (no error when it is gone meanwhile). */
  async touch(id: string, at: TimeInput): Promise<void> {
    const time = isoTime(at, this.#access.clock, 'token use time');
    await this.#access.write(`record use of token ${id}`, async (db) => {
      await db.updateTable('tokens').set({ last_used_at: time }).where('id', '=', id).execute();
    });
  }

  /**
   * Deletes the token and returns it. TOKEN_NOT_FOUND when there is none — or, with `ownedBy`, when
   * it belongs to another user (so a caller learns nothing about others' token ids).
   */
  async remove(id: string, options: { ownedBy?: string } = {}): Promise<StoredToken> {
    return this.#access.write(`revoke token ${id}`, async (db) => {
      const row = await getRow(db, id);
      if (options.ownedBy !== undefined && row.user_name !== options.ownedBy) throw notFound(id);
      await db.deleteFrom('tokens').where('id', '=', id).execute();
      return toStored(row);
    });
  }

  /** Deletes every token (of `kind`, when given) whose expiry is at or before `at`; returns how many. */
  async removeExpired(at: TimeInput, kind?: TokenKind): Promise<number> {
    const time = isoTime(at, this.#access.clock, 'token expiry time');
    return this.#access.write('remove expired tokens', async (db) => {
      let query = db.deleteFrom('tokens').where('expires_at', 'is not', null).where('expires_at', '<=', time);
      if (kind !== undefined) query = query.where('kind', '=', kind);
      const result = await query.executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}

type TokenRow = Selectable<TokensTable> & { user_name: string };

function selectTokens(db: Db) {
  return db.selectFrom('tokens').innerJoin('users', 'users.id', 'tokens.user_id').selectAll('tokens').select('users.name as user_name');
}

async function findRow(db: Db, id: string): Promise<TokenRow | undefined> {
  return selectTokens(db).where('tokens.id', '=', id).executeTakeFirst();
}

async function getRow(db: Db, id: string): Promise<TokenRow> {
  const row = await findRow(db, id);
  if (!row) throw notFound(id);
  return row;
}

function notFound(id: string): BovedaError {
  return new BovedaError('TOKEN_NOT_FOUND', `no token with id ${JSON.stringify(id)}`);
}

function toStored(row: TokenRow): StoredToken {
  return {
    id: row.id, userName: row.user_name, kind: row.kind, name: row.name, secretHash: row.secret_hash,
    createdAt: row.created_at, expiresAt: row.expires_at, lastUsedAt: row.last_used_at, createdFrom: row.created_from,
  };
}
