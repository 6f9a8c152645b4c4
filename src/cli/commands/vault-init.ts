import type { Command } from 'commander';
import { createKeyFile, ensureDataDir, initLocalVault, resolveDataDir, scryptParamsFromEnv, DEFAULT_BLOCK_SIZE, DEFAULT_COMPRESSION_LEVEL, DEFAULT_PACK_SIZE, type SlotSecret } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { formatSize, parseSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines, promptSecret } from '../io.js';
import { addVaultOptions, readPassphraseFile, vaultDir, type VaultCommandOptions } from '../vault-options.js';

interface InitOptions extends VaultCommandOptions {
  blockSize: string;
  packSize: string;
  compressionLevel: string;
  label: string;
}

export function registerVaultInit(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('init').description('create a new encrypted vault in a new or empty directory'))
    .option('--block-size <size>', 'block size, a power of two from 4KiB to 4MiB (fixed for the vault\'s life)', formatSize(DEFAULT_BLOCK_SIZE).replace(' ', ''))
    .option('--pack-size <size>', 'target size of pack files', formatSize(DEFAULT_PACK_SIZE).replace(' ', ''))
    .option('--compression-level <n>', 'zstd level (1 fast … 19 small)', String(DEFAULT_COMPRESSION_LEVEL))
    .option('--label <text>', 'label of the first key slot', 'initial key')
    .addHelpText('after', '\nWith --key-file FILE a new random key file is created at FILE (it must not exist) and becomes the first key slot;\notherwise the passphrase comes from --passphrase-file, $BOVEDA_PASSPHRASE or a prompt.')
    .action(async (options: InitOptions) => {
      const { io } = context;
      const dir = vaultDir(options, io);
      // The default vault lives in the data directory, which is created private (0700).
      if (!options.vault && !io.env.BOVEDA_VAULT) await ensureDataDir(resolveDataDir(options.dataDir, io.env));
      const compressionLevel = Number(options.compressionLevel);
      if (!Number.isInteger(compressionLevel)) throw new BovedaError('INVALID_ARGUMENT', `--compression-level "${options.compressionLevel}" is not an integer`);
      let secret: SlotSecret;
      if (options.keyFile) {
        secret = await createKeyFile(options.keyFile);
      } else if (options.passphraseFile) {
        secret = { kind: 'passphrase', passphrase: await readPassphraseFile(options.passphraseFile) };
      } else if (io.env.BOVEDA_PASSPHRASE) {
        secret = { kind: 'passphrase', passphrase: io.env.BOVEDA_PASSPHRASE };
      } else if (io.stdin.isTTY) {
        const first = await promptSecret(io, 'New vault passphrase: ');
        const again = await promptSecret(io, 'Repeat the passphrase: ');
        if (first !== again) throw new BovedaError('INVALID_ARGUMENT', 'the two passphrases differ');
        secret = { kind: 'passphrase', passphrase: first };
      } else {
        throw new BovedaError('VAULT_NO_KEY', 'a new vault needs a passphrase (--passphrase-file or $BOVEDA_PASSPHRASE) or --key-file');
      }
      const created = await initLocalVault({ dir }, {
        secret,
        label: options.label,
        blockSize: parseSize(options.blockSize, '--block-size'),
        packSize: parseSize(options.packSize, '--pack-size'),
        compressionLevel,
        scrypt: scryptParamsFromEnv(io.env),
      });
      try {
        const { config } = created;
        if (options.json) {
          printJson(io, { vault: dir, vaultId: config.vaultId, formatVersion: config.version, blockSize: config.blockSize, packSize: config.packSize, keySlot: created.openedWithSlot });
        } else {
          printLines(io, [
            `Created vault ${config.vaultId} in ${dir}`,
            `  block size ${formatSize(config.blockSize)}, packs of ${formatSize(config.packSize)}, zstd level ${config.compression.level}, AES-256-GCM`,
            `  key slot ${created.openedWithSlot} (${secret.kind === 'key-file' ? `key file ${options.keyFile}` : 'passphrase'})`,
            'Keep the passphrase or key file safe: without it the vault cannot be opened by anyone.',
          ]);
        }
      } finally {
        await created.close();
      }
    });
}
