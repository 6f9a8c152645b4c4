import type { Command } from 'commander';
import { createKeyFile, scryptParamsFromEnv, type SlotSecret } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines, promptSecret } from '../io.js';
import { addVaultOptions, readPassphraseFile, withVault, type VaultCommandOptions } from '../vault-options.js';

interface AddOptions extends VaultCommandOptions {
  newPassphraseFile?: string;
  newKeyFile?: string;
  label: string;
}

export function registerVaultKey(vault: Command, context: CommandContext): void {
  const key = vault.command('key').description('manage key slots: each holds the vault\'s master key wrapped by a passphrase or key file');

  addVaultOptions(key.command('list').description('list key slots')).action(async (options: VaultCommandOptions) => {
    await withVault(options, context.io, async (opened) => {
      const slots = await opened.listKeySlots();
      if (options.json) return printJson(context.io, slots.map((slot) => ({ ...slot, current: slot.id === opened.openedWithSlot })));
      printLines(context.io, ['ID        KIND        CREATED                   LABEL', ...slots.map((slot) =>
        `${slot.id}${slot.id === opened.openedWithSlot ? '*' : ' '} ${slot.kind.padEnd(11)} ${slot.createdAt.padEnd(25)} ${slot.label}`)]);
    });
  });

  addVaultOptions(key.command('add').description('add a key slot (no data is re-encrypted)'))
    .option('--new-passphrase-file <file>', 'the new passphrase (default: $BOVEDA_NEW_PASSPHRASE, else a prompt)')
    .option('--new-key-file <file>', 'create a new random key file at this path and add it as a slot')
    .option('--label <text>', 'label of the new slot', 'added key')
    .action(async (options: AddOptions) => {
      const { io } = context;
      await withVault(options, io, async (opened) => {
        let secret: SlotSecret;
        if (options.newKeyFile) secret = await createKeyFile(options.newKeyFile);
        else if (options.newPassphraseFile) secret = { kind: 'passphrase', passphrase: await readPassphraseFile(options.newPassphraseFile) };
        else if (io.env.BOVEDA_NEW_PASSPHRASE) secret = { kind: 'passphrase', passphrase: io.env.BOVEDA_NEW_PASSPHRASE };
        else if (io.stdin.isTTY) {
          const first = await promptSecret(io, 'New passphrase: ');
          if (first !== (await promptSecret(io, 'Repeat the new passphrase: '))) throw new BovedaError('INVALID_ARGUMENT', 'the two passphrases differ');
          secret = { kind: 'passphrase', passphrase: first };
        } else {
          throw new BovedaError('INVALID_ARGUMENT', 'give the new secret with --new-passphrase-file, $BOVEDA_NEW_PASSPHRASE or --new-key-file');
        }
        const slot = await opened.addKeySlot(secret, options.label, scryptParamsFromEnv(io.env));
        if (options.json) printJson(io, slot);
        else printLines(io, [`Added key slot ${slot.id} (${slot.kind}, "${slot.label}")`]);
      });
    });

  addVaultOptions(key.command('remove').argument('<id>', 'key slot id (see "vault key list")').description('remove a key slot (never the last one)'))
    .action(async (id: string, options: VaultCommandOptions) => {
      await withVault(options, context.io, async (opened) => {
        await opened.removeKeySlot(id);
        if (options.json) printJson(context.io, { removed: id });
        else printLines(context.io, [`Removed key slot ${id}`]);
      });
    });
}
