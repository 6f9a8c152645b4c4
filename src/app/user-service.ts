import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Catalog, StoredToken, StoredUser } from '../catalog/index.js';
import { VM_NAME_PATTERN } from '../catalog/index.js';
import { BovedaError, ROLES, isBovedaError, isRole, type Principal, type Role } from '../core/index.js';
import type { Clock } from '../util/index.js';
import type { AuditActor } from './audit-actor.js';
import { LoginThrottle } from './login-throttle.js';
import { checkPassword, generatePassword, hashPassword, MAX_PASSWORD_LENGTH, passwordHashParamsFromEnv, verifyPassword, type PasswordHashParams } from './password-hash.js';

export { LoginThrottle, DEFAULT_LOGIN_MAX_FAILURES, DEFAULT_LOGIN_WINDOW_MS } from './login-throttle.js';
export { checkPassword, generatePassword, MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH } from './password-hash.js';


export interface UserRecord {
  name: string;
  role: Role;
  keyRestore: boolean;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  passwordChangedAt: string;
}

export interface TokenRecord {
  /** Public: shown in lists and the audit log; the secret is never stored. */
  id: string;
  userName: string;
  kind: 'session' | 'api';
  name: string | null;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  createdFrom: string | null;
}

export interface IssuedToken {
  /** The secret `bvd_<id>_<secret>`: shown once, never stored. */
  token: string;
  record: TokenRecord;
}

export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** The name of the account the first start of a data directory creates. */
export const INITIAL_ADMIN_NAME = 'admin';
export const MAX_TOKEN_NAME_LENGTH = 64;
export const MAX_TOKEN_EXPIRY_DAYS = 3650;

const TOKEN_PATTERN = /^bvd_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const TOUCH_INTERVAL_MS = 60_000;
const DAY_MS = 24 * 60 * 60 * 1000;
const AUTH_REQUIRED_MESSAGE = 'the session or API token is missing, unknown, expired or revoked; log in again';
const AUTH_FAILED_MESSAGE = 'wrong user name or password';
const FIRST_START_ACTOR: AuditActor = { userName: 'system', source: 'first-start' };

/** The actor of commands run on the server's own shell. */
export function localActor(): AuditActor {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env.USER ?? String(process.getuid?.() ?? 'unknown');
  }
  return { userName: `local:${name}`, source: 'cli' };
}

/**
 * Users, passwords, login sessions and API tokens of the server, and who may do what (the
 * Principal an authenticated request carries). Every change is audited (catalog.audit), failed
 * and refused attempts too; passwords never appear in the log.
 *
 * - Passwords: scrypt, stored as "scrypt$N$r$p$salt$hash" (password-hash.ts); 12..1024 characters.
 * - Tokens: `bvd_<id>_<secret>`: a public 16-hex-digit id and a 32-byte random secret (base64url);
 *   only the SHA-256 of the secret is stored, compared in constant time. Sessions (from login)
 *   expire `sessionTtlMs` after login; API tokens after `expiresInDays`, or never.
 * - login is throttled per user name and per source (LoginThrottle); a wrong name and a wrong
 *   password give the same AUTH_FAILED and cost the same hashing time.
 * - authenticate gives one AUTH_REQUIRED for any token that does not work (unknown, expired,
 *   revoked, disabled user), so a caller learns nothing about why.
 */
export class UserService {
  readonly #catalog: Catalog;
  readonly #clock: Clock;
  readonly #sessionTtlMs: number;
  readonly #throttle: LoginThrottle;
  readonly #hashParams: PasswordHashParams;
  // A hash to verify against when the user is unknown, so the answer takes as long as a real check.
  #dummyHash: Promise<string> | undefined;

  constructor(catalog: Catalog, clock: Clock, options: { sessionTtlMs?: number; throttle?: LoginThrottle } = {}) {
    this.#catalog = catalog;
    this.#clock = clock;
    this.#sessionTtlMs = options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
    this.#throttle = options.throttle ?? new LoginThrottle(clock);
    this.#hashParams = passwordHashParamsFromEnv();
  }

  /** Creates a user; without a password, generates one (returned once, `generated` true). */
  async addUser(input: { name: string; role: Role; password?: string; keyRestore?: boolean }, actor: AuditActor): Promise<{ user: UserRecord; password: string; generated: boolean }> {
    const details = { role: bounded(input.role), keyRestore: input.keyRestore === true, passwordGenerated: input.password === undefined };
    return this.#audited(actor, 'user.add', userTarget(input.name), details, async () => {
      const name = checkUserName(input.name);
      const role = checkRole(input.role);
      const keyRestore = checkFlag(input.keyRestore ?? false, 'keyRestore');
      const generated = input.password === undefined;
      const password = generated ? generatePassword() : checkPassword(input.password);
      const stored = await this.#catalog.users.create({ name, role, keyRestore, passwordHash: await hashPassword(password, this.#hashParams) });
      return { user: toUser(stored), password, generated };
    });
  }

  /** Every user, by name. */
  async listUsers(): Promise<UserRecord[]> {
    return (await this.#catalog.users.list()).map(toUser);
  }

  /** USER_NOT_FOUND when there is none of that name. */
  async getUser(name: string): Promise<UserRecord> {
    return toUser(await this.#catalog.users.get(name));
  }

  /**
   * Changes role, password, disabled or keyRestore. A password change or disabling ends the user's
   * sessions. LAST_ADMIN when it would leave no enabled admin.
   */
  async updateUser(name: string, changes: { role?: Role; password?: string; disabled?: boolean; keyRestore?: boolean }, actor: AuditActor): Promise<UserRecord> {
    const fields = (['role', 'password', 'disabled', 'keyRestore'] as const).filter((field) => changes[field] !== undefined);
    const details: Record<string, unknown> = { changed: fields };
    for (const field of ['role', 'disabled', 'keyRestore'] as const) if (changes[field] !== undefined) details[field] = bounded(changes[field]);
    return this.#audited(actor, 'user.update', userTarget(name), details, async () => {
      if (fields.length === 0) throw new BovedaError('INVALID_ARGUMENT', `nothing to change for user ${name} (give a role, password, disabled or keyRestore)`);
      const role = changes.role === undefined ? undefined : checkRole(changes.role);
      const disabled = changes.disabled === undefined ? undefined : checkFlag(changes.disabled, 'disabled');
      const keyRestore = changes.keyRestore === undefined ? undefined : checkFlag(changes.keyRestore, 'keyRestore');
      const passwordHash = changes.password === undefined ? undefined : await hashPassword(checkPassword(changes.password), this.#hashParams);
      return toUser(await this.#catalog.users.update(name, { role, disabled, keyRestore, passwordHash }));
    });
  }

  /**
   * A user changes their own password, proving the current one (throttled like logins: a stolen
   * session cannot guess it). AUTH_FAILED for a wrong current password. Ends all the user's
   * sessions, the caller's too: they log in again with the new password.
   */
  async changeOwnPassword(name: string, currentPassword: string, newPassword: string, source: string): Promise<UserRecord> {
    const from = sourceOf(source);
    const actor = { userName: name, source: from };
    return this.#audited(actor, 'user.password', userTarget(name), {}, async () => {
      this.#throttle.check(name, from);
      const user = await this.#catalog.users.get(name);
      const candidate = typeof currentPassword === 'string' ? currentPassword.slice(0, MAX_PASSWORD_LENGTH + 1) : '';
      if (!(await verifyPassword(candidate, user.passwordHash)) || candidate.length > MAX_PASSWORD_LENGTH) {
        this.#throttle.recordFailure(name, from);
        throw new BovedaError('AUTH_FAILED', 'the current password is wrong');
      }
      const passwordHash = await hashPassword(checkPassword(newPassword), this.#hashParams);
      return toUser(await this.#catalog.users.update(name, { passwordHash }));
    });
  }

  /** Deletes a user with its tokens and sessions. USER_NOT_FOUND; LAST_ADMIN. */
  async removeUser(name: string, actor: AuditActor): Promise<void> {
    await this.#audited(actor, 'user.remove', userTarget(name), {}, async () => {
      await this.#catalog.users.remove(name);
    });
  }

  /**
   * Checks name and password and opens a session (expiring `sessionTtlMs` from now). RATE_LIMITED
   * after too many failures; AUTH_FAILED for a wrong name, wrong password or disabled user alike.
   */
  async login(name: string, password: string, source: string): Promise<IssuedToken & { user: UserRecord }> {
    // Valid names have at most 64 characters: longer ones are cut so the throttle's keys stay small.
    const tried = typeof name === 'string' ? name.slice(0, 65) : '';
    const from = sourceOf(source);
    const auditName = tried.length === 0 ? '(none)' : tried.slice(0, 64);
    this.#throttle.check(tried, from);
    const user = VM_NAME_PATTERN.test(tried) ? await this.#catalog.users.find(tried) : null;
    // Over-long passwords are never valid; still spend the hashing time, on a bounded input.
    const candidate = typeof password === 'string' ? password.slice(0, MAX_PASSWORD_LENGTH + 1) : '';
    const matches = await verifyPassword(candidate, user?.passwordHash ?? await this.#dummy());
    const reason = !user ? 'unknown-user' : !matches || candidate.length > MAX_PASSWORD_LENGTH ? 'wrong-password' : user.disabled ? 'disabled' : null;
    if (reason !== null) {
      this.#throttle.recordFailure(tried, from);
      await this.#catalog.audit.record({ userName: auditName, source: from, action: 'session.login', target: userTarget(tried), outcome: 'failed', details: { reason } });
      throw new BovedaError('AUTH_FAILED', AUTH_FAILED_MESSAGE);
    }
    this.#throttle.recordSuccess(tried);
    const now = this.#clock.now();
    await this.#catalog.tokens.removeExpired(now.toISOString(), 'session');
    const issued = await this.#issue(user!.name, 'session', null, new Date(now.getTime() + this.#sessionTtlMs).toISOString(), from);
    await this.#catalog.audit.record({ userName: user!.name, source: from, action: 'session.login', target: userTarget(user!.name), outcome: 'succeeded', details: { tokenId: issued.record.id } });
    return { ...issued, user: toUser(user!) };
  }

  /** Ends a session (no error when it is already gone; an API token id is left alone). */
  async logout(tokenId: string): Promise<void> {
    const found = await this.#catalog.tokens.findWithUser(tokenId);
    if (found?.token.kind !== 'session') return;
    await this.#catalog.tokens.remove(tokenId).catch((error: unknown) => {
      if (!isBovedaError(error, 'TOKEN_NOT_FOUND')) throw error;
    });
  }

  /** The principal of a session or API token; AUTH_REQUIRED (one message) for any that does not work. */
  async authenticate(token: string, source: string): Promise<Principal> {
    const match = typeof token === 'string' ? TOKEN_PATTERN.exec(token) : null;
    if (!match) throw authRequired();
    const [, id, secret] = match as unknown as [string, string, string];
    const found = await this.#catalog.tokens.findWithUser(id);
    const given = Buffer.from(hashSecret(secret), 'hex');
    // Compare even for an unknown id, against itself, so both paths do the same work.
    const stored = found ? Buffer.from(found.token.secretHash, 'hex') : given;
    const equal = stored.length === given.length && timingSafeEqual(stored, given);
    const now = this.#clock.now();
    if (!found || !equal || found.user.disabled || (found.token.expiresAt !== null && Date.parse(found.token.expiresAt) <= now.getTime())) throw authRequired();
    const lastUsed = found.token.lastUsedAt === null ? null : Date.parse(found.token.lastUsedAt);
    if (lastUsed === null || now.getTime() - lastUsed >= TOUCH_INTERVAL_MS) await this.#catalog.tokens.touch(id, now.toISOString());
    return { userName: found.user.name, role: found.user.role, keyRestore: found.user.keyRestore, tokenId: id, source: sourceOf(source) };
  }

  /** A new API token for `userName` (secret shown once). USER_NOT_FOUND; INVALID_ARGUMENT for name or expiry. */
  async createApiToken(userName: string, input: { name: string; expiresInDays?: number }, actor: AuditActor): Promise<IssuedToken> {
    const details: Record<string, unknown> = { name: typeof input.name === 'string' ? input.name.slice(0, MAX_TOKEN_NAME_LENGTH) : null, expiresInDays: input.expiresInDays ?? null };
    let issued: IssuedToken | undefined;
    await this.#audited(actor, 'token.create', userTarget(userName), details, async () => {
      const name = checkTokenName(input.name);
      const days = input.expiresInDays;
      if (days !== undefined && (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > MAX_TOKEN_EXPIRY_DAYS)) {
        throw new BovedaError('INVALID_ARGUMENT', `token expiry must be a whole number of days from 1 to ${MAX_TOKEN_EXPIRY_DAYS}, got ${JSON.stringify(days)}`);
      }
      const expiresAt = days === undefined ? null : new Date(this.#clock.now().getTime() + days * DAY_MS).toISOString();
      issued = await this.#issue(userName, 'api', name, expiresAt, sourceOf(actor.source));
      details.tokenId = issued.record.id;
    });
    return issued!;
  }

  /**
   * API tokens, oldest first, of one user (USER_NOT_FOUND) or all; with `includeSessions`, also the
   * sessions that have not expired. Expired API tokens are listed (with their expiresAt) until revoked.
   */
  async listTokens(userName?: string, options: { includeSessions?: boolean } = {}): Promise<TokenRecord[]> {
    if (userName !== undefined) await this.#catalog.users.get(userName);
    const now = this.#clock.now().getTime();
    const tokens = await this.#catalog.tokens.list({ userName });
    return tokens
      .filter((token) => token.kind === 'api' || (options.includeSessions === true && Date.parse(token.expiresAt!) > now))
      .map(toTokenRecord);
  }

  /** TOKEN_NOT_FOUND when there is none with that id. */
  async getToken(id: string): Promise<TokenRecord> {
    return toTokenRecord(await this.#catalog.tokens.get(id));
  }

  /**
   * Revokes a token or session and returns what it was. TOKEN_NOT_FOUND when there is none, or
   * (with `ownedBy`, for non-admins) when it belongs to someone else — checked in the same transaction.
   */
  async revokeToken(id: string, actor: AuditActor, options: { ownedBy?: string } = {}): Promise<TokenRecord> {
    const details: Record<string, unknown> = { tokenId: typeof id === 'string' ? id.slice(0, 64) : null };
    let target: string | null = null;
    let revoked: TokenRecord | undefined;
    await this.#audited(actor, 'token.revoke', () => target, details, async () => {
      revoked = toTokenRecord(await this.#catalog.tokens.remove(id, options));
      target = userTarget(revoked.userName);
      details.kind = revoked.kind;
      details.name = revoked.name;
    });
    return revoked!;
  }

  /**
   * First start: when the catalog has no user at all, creates "admin" (role admin) with a random
   * password and returns its name and password (to print once); else null. Atomic across processes.
   */
  async ensureInitialAdmin(): Promise<{ name: string; password: string } | null> {
    if (await this.#catalog.users.count() > 0) return null;
    const password = generatePassword();
    const created = await this.#catalog.users.createFirst({ name: INITIAL_ADMIN_NAME, role: 'admin', passwordHash: await hashPassword(password, this.#hashParams) });
    if (!created) return null;
    await this.#catalog.audit.record({ ...FIRST_START_ACTOR, action: 'user.add', target: userTarget(created.name), outcome: 'succeeded', details: { role: 'admin', keyRestore: false, passwordGenerated: true } });
    return { name: created.name, password };
  }

  async #issue(userName: string, kind: 'session' | 'api', name: string | null, expiresAt: string | null, createdFrom: string): Promise<IssuedToken> {
    const id = randomBytes(8).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const stored = await this.#catalog.tokens.create({ id, userName, kind, name, secretHash: hashSecret(secret), expiresAt, createdFrom });
    return { token: `bvd_${id}_${secret}`, record: toTokenRecord(stored) };
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(generatePassword(), this.#hashParams);
    return this.#dummyHash;
  }

  /** Runs `body` and audits how it ended: succeeded, refused (LAST_ADMIN) or failed (with the error code). */
  async #audited<T>(actor: AuditActor, action: string, target: string | null | (() => string | null), details: Record<string, unknown>, body: () => Promise<T>): Promise<T> {
    const entry = { userName: actor.userName || 'unknown', source: sourceOf(actor.source), action };
    const targetOf = () => (typeof target === 'function' ? target() : target);
    let result: T;
    try {
      result = await body();
    } catch (error) {
      const code = isBovedaError(error) ? error.code : 'INTERNAL';
      await this.#catalog.audit.record({ ...entry, target: targetOf(), outcome: code === 'LAST_ADMIN' ? 'refused' : 'failed', details: { ...details, error: code } }).catch(() => undefined);
      throw error;
    }
    await this.#catalog.audit.record({ ...entry, target: targetOf(), outcome: 'succeeded', details });
    return result;
  }
}

/** INVALID_ARGUMENT unless `name` is a valid user name (the pattern of VM names). */
export function checkUserName(name: unknown): string {
  if (typeof name !== 'string' || !VM_NAME_PATTERN.test(name)) {
    throw new BovedaError('INVALID_ARGUMENT', `user name ${shortJson(name)} must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}

/** INVALID_ARGUMENT unless `role` is one of ROLES. */
export function checkRole(role: unknown): Role {
  if (!isRole(role)) throw new BovedaError('INVALID_ARGUMENT', `role ${shortJson(role)} must be one of ${ROLES.join(', ')}`);
  return role;
}

function checkTokenName(name: unknown): string {
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > MAX_TOKEN_NAME_LENGTH || /[\p{Cc}]/u.test(name)) {
    throw new BovedaError('INVALID_ARGUMENT', `token name ${shortJson(name)} must have 1 to ${MAX_TOKEN_NAME_LENGTH} printable characters`);
  }
  return name;
}

function checkFlag(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new BovedaError('INVALID_ARGUMENT', `${what} must be true or false, got ${shortJson(value)}`);
  return value;
}

function authRequired(): BovedaError {
  return new BovedaError('AUTH_REQUIRED', AUTH_REQUIRED_MESSAGE);
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Audit targets and sources come from callers: keep them bounded. */
function userTarget(name: unknown): string {
  return `user:${typeof name === 'string' ? name.slice(0, 100) : '?'}`;
}

function sourceOf(source: unknown): string {
  return typeof source === 'string' && source.length > 0 ? source.slice(0, 200) : 'unknown';
}

/** A caller's value for the audit details, cut short when it is a long string. */
function bounded(value: unknown): unknown {
  return typeof value === 'string' ? value.slice(0, 64) : value;
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}..."` : text;
}

function toUser(stored: StoredUser): UserRecord {
  return {
    name: stored.name, role: stored.role, keyRestore: stored.keyRestore, disabled: stored.disabled,
    createdAt: stored.createdAt, updatedAt: stored.updatedAt, passwordChangedAt: stored.passwordChangedAt,
  };
}

function toTokenRecord(stored: StoredToken): TokenRecord {
  return {
    id: stored.id, userName: stored.userName, kind: stored.kind, name: stored.name,
    createdAt: stored.createdAt, expiresAt: stored.expiresAt, lastUsedAt: stored.lastUsedAt, createdFrom: stored.createdFrom,
  };
}
