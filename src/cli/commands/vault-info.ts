import type { Command } from 'commander';
import { readLocalVaultConfig } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, vaultDir, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultInfo(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('info').description('show the vault\'s format and parameters (no key needed)')).action(async (options: VaultCommandOptions) => {
    const { io } = context;
    const dir = vaultDir(options, io);
    const config = await readLocalVaultConfig(dir);
    if (options.json) {
      const { mac: _mac, ...shown } = config;
      printJson(io, { vault: dir, ...shown });
      return;
    }
    printLines(io, [
      `Vault ${config.vaultId} at ${dir}`,
      `  format        ${config.format} version ${config.version}`,
      `  created       ${config.createdAt}`,
      `  block size    ${formatSize(config.blockSize)}`,
      `  pack size     ${formatSize(config.packSize)}`,
      `  hash          ${config.hash} (keyed)`,
      `  cipher        ${config.cipher}`,
      `  compression   ${config.compression.algorithm} level ${config.compression.level}`,
      `  map fanout    ${config.mapFanout}`,
    ]);
  });
}
