import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BovedaError, isBovedaError } from '../core/index.js';
import { newKeyFileContent, parseKeyFileContent, type ScryptParams, type SlotSecret } from '../crypto/index.js';
import { Vault, type VaultInitOptions } from '../repository/index.js';
import { LocalStore } from '../storage/index.js';
import type { Clock } from '../util/index.js';

/** Where the vault is and how to open it, as given on the command line or in the environment. */
export interface VaultLocation {
  dir: string;
  clock?: Clock;
  threads?: number;
}

export function localStore(dir: string): LocalStore {
  return new LocalStore(resolve(dir));
}

export async function openLocalVault(location: VaultLocation, secrets: SlotSecret[]): Promise<Vault> {
  await requireDirectory(location.dir);
  return Vault.open(localStore(location.dir), secrets, { clock: location.clock, threads: location.threads });
}

export async function readLocalVaultConfig(dir: string) {
  await requireDirectory(dir);
  return Vault.readConfig(localStore(dir));
}

/**
 * Creates a vault in `dir`: a new or empty directory, never one that holds other files
 * (a typo in --vault must not turn someone's home directory into a vault).
 */
export async function initLocalVault(location: VaultLocation, options: Omit<VaultInitOptions, 'clock'>): Promise<Vault> {
  const dir = resolve(location.dir);
  let entries: string[] = [];
  try {
    entries = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw wrapFsError(error, dir);
  }
  if (entries.includes('config')) throw new BovedaError('VAULT_EXISTS', `a vault already exists at ${dir}`);
  if (entries.length > 0) throw new BovedaError('VAULT_EXISTS', `${dir} is not empty; a vault is created only in a new or empty directory`);
  const created = await mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw wrapFsError(error, dir);
  });
  try {
    return await Vault.init(localStore(dir), { ...options, clock: location.clock });
  } catch (error) {
    // Bad options or a failed write must not leave a half-made directory behind.
    if (created !== undefined) await rm(created, { recursive: true, force: true });
    throw error;
  }
}

async function requireDirectory(dir: string): Promise<void> {
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw new BovedaError('VAULT_NOT_FOUND', `${resolve(dir)} is not a directory, so not a Boveda vault`);
  } catch (error) {
    if (isBovedaError(error)) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BovedaError('VAULT_NOT_FOUND', `vault directory ${resolve(dir)} does not exist`, { cause: error });
    throw wrapFsError(error, dir);
  }
}

function wrapFsError(error: unknown, path: string): BovedaError {
  return new BovedaError('STORAGE_IO', `cannot use ${path}: ${(error as Error).message}`, { cause: error });
}

/** Reads a key file; names the file when it is missing or not a Boveda key file. */
export async function readKeyFile(path: string): Promise<SlotSecret> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `cannot read key file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const key = parseKeyFileContent(text);
  if (!key) throw new BovedaError('INVALID_ARGUMENT', `${path} is not a Boveda key file`);
  return { kind: 'key-file', key };
}

/** Writes a new random key file (mode 0600, never over an existing file) and returns it as a secret. */
export async function createKeyFile(path: string): Promise<SlotSecret> {
  const content = newKeyFileContent();
  try {
    await writeFile(path, content, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BovedaError(code === 'EEXIST' ? 'INVALID_ARGUMENT' : 'STORAGE_IO', `cannot create key file ${path}: ${code === 'EEXIST' ? 'it already exists' : (error as Error).message}`, { cause: error });
  }
  return { kind: 'key-file', key: parseKeyFileContent(content)! };
}

/** scrypt cost for new passphrase slots; BOVEDA_SCRYPT_N lowers it for test suites only. */
export function scryptParamsFromEnv(env: NodeJS.ProcessEnv = process.env): ScryptParams | undefined {
  const n = env.BOVEDA_SCRYPT_N;
  if (n === undefined) return undefined;
  const value = Number(n);
  if (!Number.isInteger(value) || value < 1024 || (value & (value - 1)) !== 0) {
    throw new BovedaError('INVALID_ARGUMENT', `BOVEDA_SCRYPT_N=${n} must be a power of two of at least 1024`);
  }
  return { N: value, r: 8, p: 1 };
}
