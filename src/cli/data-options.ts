import { openLocalVault, resolveDataDir, withVmService, type Vault, type VmService } from '../app/index.js';
import type { CliIo } from './io.js';
import { addVaultOptions, gatherSecrets, vaultDir, type VaultCommandOptions } from './vault-options.js';

export type DataCommandOptions = VaultCommandOptions;

/** Commands that use the catalog take the same options as vault commands (--data-dir, --vault, secrets, --json). */
export const addDataOptions = addVaultOptions;

/** Opens the vault chosen by the options (or the data directory's default), always closing it. */
export async function openDataVault<T>(options: DataCommandOptions, io: CliIo, body: (vault: Vault) => Promise<T>): Promise<T> {
  const vault = await openLocalVault({ dir: vaultDir(options, io) }, await gatherSecrets(options, io));
  try {
    return await body(vault);
  } finally {
    await vault.close();
  }
}

/** Looks the VM up in the catalog (VM_NOT_FOUND first, before asking for a passphrase), then opens the vault. */
export async function openVmContext<T>(
  options: DataCommandOptions, io: CliIo, vmName: string,
  body: (context: { vault: Vault; vm: Awaited<ReturnType<VmService['getVm']>> }) => Promise<T>,
): Promise<T> {
  const dataDir = resolveDataDir(options.dataDir, io.env);
  const vm = await withVmService(dataDir, (service) => service.getVm(vmName));
  return openDataVault(options, io, (vault) => body({ vault, vm }));
}
