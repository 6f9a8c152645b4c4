import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { checkPassword, generatePassword, localActor, MAX_TOKEN_EXPIRY_DAYS, UserService, type TokenRecord, type UserRecord } from '../../app/index.js';
import { BovedaError, isRole, ROLES, type Role } from '../../core/index.js';
import { withApp } from '../app-options.js';
import { addCatalogOnlyOptions, type CatalogCommandOptions } from '../catalog-options.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines, type CliIo } from '../io.js';

type UserOptions = CatalogCommandOptions;

/** Runs `body` with a UserService on the data directory's catalog. */
export async function withUsers<T>(options: UserOptions, io: CliIo, body: (service: UserService) => Promise<T>): Promise<T> {
  return withApp(options, io, (app) => body(new UserService(app.catalog, app.clock)));
}

export function registerUser(program: Command, context: CommandContext): void {
  const { io } = context;
  const user = program.command('user').description('users of the server (web UI, API, remote CLI): roles, passwords, API tokens');

  addCatalogOnlyOptions(user.command('add').argument('<name>', 'user name').description('add a user (prints a generated password once unless --password-file is given)'))
    .option('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--password-file <file>', 'read the password from the first line of this file (12 to 1024 characters)')
    .option('--key-restore', 'may read disk-encryption secrets of recovery points without being admin')
    .action(async (name: string, options: UserOptions & { role?: string; passwordFile?: string; keyRestore?: boolean }) => {
      const role = roleFlag(options.role, true)!;
      const password = options.passwordFile === undefined ? undefined : await readPasswordFile(options.passwordFile);
      const added = await withUsers(options, io, (service) => service.addUser({ name, role, password, keyRestore: options.keyRestore === true }, localActor()));
      if (options.json) return printJson(io, { user: added.user, ...(added.generated ? { password: added.password } : {}) });
      printLines(io, [
        `Created user ${added.user.name} (role ${added.user.role}${added.user.keyRestore ? ', may restore disk-encryption keys' : ''}).`,
        ...(added.generated ? passwordLines(added.user.name, added.password) : [`Its password is the one in ${options.passwordFile}.`]),
      ]);
    });

  addCatalogOnlyOptions(user.command('list').description('list the users'))
    .action(async (options: UserOptions) => {
      const users = await withUsers(options, io, (service) => service.listUsers());
      if (options.json) return printJson(io, { users });
      if (users.length === 0) return printLines(io, ['No users yet ("boveda serve" creates "admin" on first start; or: boveda user add NAME --role admin).']);
      printLines(io, userTable(users));
    });

  addCatalogOnlyOptions(user.command('set').argument('<name>', 'user name').description('change a user\'s role, status, key-restore permission or password'))
    .option('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--disable', 'refuse the user\'s logins and tokens (ends its sessions)')
    .option('--enable', 'allow the user again')
    .option('--key-restore <on|off>', 'whether the user may read disk-encryption secrets without being admin')
    .option('--password-file <file>', 'set the password from the first line of this file (ends the user\'s sessions)')
    .option('--reset-password', 'set a generated password and print it once (ends the user\'s sessions)')
    .action(async (name: string, options: UserOptions & { role?: string; disable?: boolean; enable?: boolean; keyRestore?: string; passwordFile?: string; resetPassword?: boolean }) => {
      if (options.disable && options.enable) throw new BovedaError('INVALID_ARGUMENT', 'give --disable or --enable, not both');
      if (options.passwordFile !== undefined && options.resetPassword) throw new BovedaError('INVALID_ARGUMENT', 'give --password-file or --reset-password, not both');
      if (options.keyRestore !== undefined && options.keyRestore !== 'on' && options.keyRestore !== 'off') {
        throw new BovedaError('INVALID_ARGUMENT', `--key-restore "${options.keyRestore}": expected on or off`);
      }
      const role = roleFlag(options.role, false);
      const password = options.resetPassword ? generatePassword() : options.passwordFile === undefined ? undefined : await readPasswordFile(options.passwordFile);
      const disabled = options.disable ? true : options.enable ? false : undefined;
      const keyRestore = options.keyRestore === undefined ? undefined : options.keyRestore === 'on';
      if (role === undefined && password === undefined && disabled === undefined && keyRestore === undefined) {
        throw new BovedaError('INVALID_ARGUMENT', 'nothing to change: give --role, --disable, --enable, --key-restore, --password-file or --reset-password');
      }
      const updated = await withUsers(options, io, (service) => service.updateUser(name, { role, password, disabled, keyRestore }, localActor()));
      if (options.json) return printJson(io, { user: updated, ...(options.resetPassword ? { password } : {}) });
      printLines(io, [
        `Updated user ${updated.name}: role ${updated.role}, ${updated.disabled ? 'DISABLED' : 'enabled'}, key restore ${updated.keyRestore ? 'on' : 'off'}${password === undefined ? '' : ', new password (its sessions ended)'}.`,
        ...(options.resetPassword ? passwordLines(updated.name, password!) : []),
      ]);
    });

  addCatalogOnlyOptions(user.command('remove').argument('<name>', 'user name').description('remove a user with its API tokens and sessions'))
    .action(async (name: string, options: UserOptions) => {
      await withUsers(options, io, (service) => service.removeUser(name, localActor()));
      if (options.json) return printJson(io, { removed: name });
      printLines(io, [`Removed user ${name} (with its API tokens and sessions).`]);
    });

  const token = user.command('token').description('API tokens: for scripts and the remote CLI (BOVEDA_TOKEN)');
  addCatalogOnlyOptions(token.command('create').argument('<user>', 'the user the token acts as').description('create an API token (printed once)'))
    .option('--name <name>', 'what the token is for (1 to 64 characters)')
    .option('--expires-days <n>', 'expire after N days (1 to 3650; default: never)')
    .action(async (userName: string, options: UserOptions & { name?: string; expiresDays?: string }) => {
      if (options.name === undefined) throw new BovedaError('INVALID_ARGUMENT', '--name is required: say what the token is for');
      const expiresInDays = expiresDaysFlag(options.expiresDays);
      const issued = await withUsers(options, io, (service) => service.createApiToken(userName, { name: options.name!, expiresInDays }, localActor()));
      if (options.json) return printJson(io, { id: issued.record.id, token: issued.token, record: issued.record });
      printLines(io, [
        `Created API token ${issued.record.id} ("${issued.record.name}") for ${issued.record.userName}, ${issued.record.expiresAt ? `expires ${issued.record.expiresAt}` : 'never expires'}.`,
        `Token (shown only this once): ${issued.token}`,
        'Use it as BOVEDA_TOKEN (with BOVEDA_SERVER=http://HOST:PORT) or in the header "Authorization: Bearer <token>".',
      ]);
    });

  addCatalogOnlyOptions(token.command('list').argument('[user]', 'only this user\'s tokens').description('list API tokens (never their secrets)'))
    .option('--sessions', 'also list the login sessions that have not expired')
    .action(async (userName: string | undefined, options: UserOptions & { sessions?: boolean }) => {
      const tokens = await withUsers(options, io, (service) => service.listTokens(userName, { includeSessions: options.sessions === true }));
      if (options.json) return printJson(io, { tokens });
      if (tokens.length === 0) return printLines(io, [`No API tokens${userName ? ` for ${userName}` : ''} (create one with "boveda user token create USER --name NAME").`]);
      printLines(io, tokenTable(tokens));
    });

  addCatalogOnlyOptions(token.command('revoke').argument('<id>', 'token id (from "user token list")').description('revoke an API token or session'))
    .action(async (id: string, options: UserOptions) => {
      const revoked = await withUsers(options, io, (service) => service.revokeToken(id, localActor()));
      if (options.json) return printJson(io, { revoked });
      printLines(io, [`Revoked ${revoked.kind === 'api' ? 'API token' : 'session'} ${revoked.id}${revoked.name ? ` ("${revoked.name}")` : ''} of ${revoked.userName}.`]);
    });
}

export function roleFlag(value: string | undefined, required: boolean): Role | undefined {
  if (value === undefined) {
    if (required) throw new BovedaError('INVALID_ARGUMENT', `--role is required: one of ${ROLES.join(', ')}`);
    return undefined;
  }
  if (!isRole(value)) throw new BovedaError('INVALID_ARGUMENT', `--role "${value}": expected one of ${ROLES.join(', ')}`);
  return value;
}

export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `--password-file ${path}: cannot read it: ${(error as Error).message}`, { cause: error });
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  try {
    return checkPassword(password);
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `--password-file ${path}: ${(error as Error).message}`);
  }
}

export function passwordLines(name: string, password: string): string[] {
  return [
    `Password (shown only this once): ${password}`,
    `Log in as ${name} with it in the web UI of "boveda serve" (default http://127.0.0.1:8080), or create an API token: boveda user token create ${name} --name NAME`,
  ];
}

export function userTable(users: UserRecord[]): string[] {
  const width = Math.max(4, ...users.map((entry) => entry.name.length));
  return [
    `${'NAME'.padEnd(width)}  ROLE         KEY RESTORE  STATUS    CREATED (UTC)`,
    ...users.map((entry) => `${entry.name.padEnd(width)}  ${entry.role.padEnd(11)}  ${(entry.keyRestore ? 'yes' : 'no').padEnd(11)}  ${(entry.disabled ? 'disabled' : 'enabled').padEnd(8)}  ${entry.createdAt}`),
  ];
}

export function tokenTable(tokens: TokenRecord[]): string[] {
  const nameWidth = Math.max(4, ...tokens.map((entry) => (entry.name ?? '-').length));
  const userWidth = Math.max(4, ...tokens.map((entry) => entry.userName.length));
  return [
    `ID                KIND     ${'USER'.padEnd(userWidth)}  ${'NAME'.padEnd(nameWidth)}  CREATED (UTC)             EXPIRES                   LAST USED`,
    ...tokens.map((entry) => [
      entry.id.padEnd(16), entry.kind.padEnd(7), entry.userName.padEnd(userWidth), (entry.name ?? '-').padEnd(nameWidth),
      entry.createdAt.padEnd(24), (entry.expiresAt ?? 'never').padEnd(24), entry.lastUsedAt ?? 'never',
    ].join('  ')),
  ];
}

/**
 * --expires-days of a token or login (local and remote forms): a whole number of days from 1 to
 * MAX_TOKEN_EXPIRY_DAYS, at most 4 digits; undefined when not given (never expires).
 */
export function expiresDaysFlag(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const days = /^\d{1,4}$/.test(text) ? Number(text) : NaN;
  if (!(days >= 1 && days <= MAX_TOKEN_EXPIRY_DAYS)) throw new BovedaError('INVALID_ARGUMENT', `--expires-days "${text}": expected a whole number of days from 1 to ${MAX_TOKEN_EXPIRY_DAYS}`);
  return days;
}
