import type { Command } from 'commander';
import { deletePoint, resolvePointId } from '../../app/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, withVault, type VaultCommandOptions } from '../vault-options.js';

export function registerVaultDeletePoint(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('delete-point').argument('<point>', 'recovery point id (or a unique prefix)')
    .description('delete a recovery point; its blocks are freed by the next "vault gc" unless other points need them'))
    .action(async (pointArg: string, options: VaultCommandOptions) => {
      await withVault(options, context.io, async (opened) => {
        const pointId = await resolvePointId(opened, pointArg);
        await deletePoint(opened, pointId);
        if (options.json) printJson(context.io, { deleted: pointId });
        else printLines(context.io, [`Deleted recovery point ${pointId}; run "boveda vault gc" to free its space`]);
      });
    });
}
