import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { defaultVaultKeyFile as keyFileOf, openLocalVault, readKeyFile, resolveDataDir, resolveVaultDir, type SlotSecret, type Vault } from '../app/index.js';
import { BovedaError } from '../core/index.js';
import { type CliIo, promptSecret } from './io.js';

export interface VaultCommandOptions {
  vault?: string;
  dataDir?: string;
  passphraseFile?: string;
  keyFile?: string;
  json?: boolean;
}

/** The options every vault command shares. */
export function addVaultOptions(command: Command): Command {
  return command
    .option('--vault <dir>', 'vault directory (default: $BOVEDA_VAULT, else <data-dir>/vault)')
    .option('--data-dir <dir>', 'Boveda\'s data directory, for its default vault (default: $BOVEDA_DATA, else ~/.local/share/boveda)')
    .option('--passphrase-file <file>', 'read the passphrase from the first line of this file (default: $BOVEDA_PASSPHRASE, else a prompt)')
    .option('--key-file <file>', 'open the vault with a key file instead of a passphrase')
    .option('--json', 'print machine-readable JSON');
}

/** --vault, else $BOVEDA_VAULT, else the data directory's default vault. */
export function vaultDir(options: VaultCommandOptions, io: CliIo): string {
  return resolveVaultDir(options.vault, io.env, () => resolveDataDir(options.dataDir, io.env));
}

/** `<data-dir>/vault.key` when the vault is the data directory's default one (no --vault, no $BOVEDA_VAULT), else null. */
export function defaultVaultKeyFile(options: VaultCommandOptions, io: CliIo): string | null {
  if (options.vault || io.env.BOVEDA_VAULT) return null;
  try {
    return keyFileOf(resolveDataDir(options.dataDir, io.env));
  } catch {
    return null;
  }
}

export async function readPassphraseFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BovedaError('INVALID_ARGUMENT', `cannot read passphrase file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const passphrase = text.split(/\r?\n/)[0] ?? '';
  if (passphrase.length === 0) throw new BovedaError('INVALID_ARGUMENT', `passphrase file ${path} is empty`);
  return passphrase;
}

/** The secrets to open a vault with: key file, passphrase file, $BOVEDA_PASSPHRASE, or a prompt on a terminal. */
export async function gatherSecrets(options: VaultCommandOptions, io: CliIo): Promise<SlotSecret[]> {
  const secrets: SlotSecret[] = [];
  if (options.keyFile) secrets.push(await readKeyFile(options.keyFile));
  if (options.passphraseFile) secrets.push({ kind: 'passphrase', passphrase: await readPassphraseFile(options.passphraseFile) });
  else if (io.env.BOVEDA_PASSPHRASE) secrets.push({ kind: 'passphrase', passphrase: io.env.BOVEDA_PASSPHRASE });
  if (secrets.length === 0) {
    // The key file `serve` generated on the first start of the data directory opens its default vault.
    const keyFile = defaultVaultKeyFile(options, io);
    if (keyFile !== null && existsSync(keyFile)) secrets.push(await readKeyFile(keyFile));
  }
  if (secrets.length === 0 && io.stdin.isTTY) secrets.push({ kind: 'passphrase', passphrase: await promptSecret(io, 'Vault passphrase: ') });
  return secrets;
}

export async function openVault(options: VaultCommandOptions, io: CliIo): Promise<Vault> {
  return openLocalVault({ dir: vaultDir(options, io) }, await gatherSecrets(options, io));
}

/** Runs `body` with an open vault and always closes it (worker threads). */
export async function withVault<T>(options: VaultCommandOptions, io: CliIo, body: (vault: Vault) => Promise<T>): Promise<T> {
  const vault = await openVault(options, io);
  try {
    return await body(vault);
  } finally {
    await vault.close();
  }
}
