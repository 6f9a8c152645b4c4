import type { Command } from 'commander';
import { runVerifyJob } from '../../app/index.js';
import { formatSize } from '../../util/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines } from '../io.js';
import { addVaultOptions, type VaultCommandOptions } from '../vault-options.js';
import { withApp } from '../app-options.js';

export const DAMAGE_EXIT_CODE = 3;

export function registerVaultVerify(vault: Command, context: CommandContext): void {
  addVaultOptions(vault.command('verify').description('check that every recovery point can be restored; exits 3 when damage is found'))
    .option('--read-data', 'also read and authenticate every stored byte')
    .action(async (options: VaultCommandOptions & { readData?: boolean }) => {
      const { io } = context;
      // Recorded as a job in the data directory's catalog (the vault itself may be any --vault).
      await withApp(options, io, async (app) => {
        const run = await runVerifyJob(app, { readData: options.readData === true, signal: context.signal });
        if (run.error) throw run.error;
        const report = run.value!;
        if (!report.ok) context.setExitCode(DAMAGE_EXIT_CODE);
        if (options.json) return printJson(io, report);
        const lines = [
          `Checked ${report.points} recovery points, ${report.packs} packs${report.readData ? `, ${report.blobsChecked} blobs (${formatSize(report.bytesChecked)} read)` : ' (structure only; --read-data reads every byte)'}`,
        ];
        for (const problem of report.problems) {
          lines.push(`DAMAGED ${problem.object}: ${problem.problem}`);
          lines.push(`  affects ${problem.affectedPoints.length === 0 ? 'no recovery point' : `recovery points ${problem.affectedPoints.join(', ')}`}`);
        }
        if (report.unindexedPacks.length > 0) lines.push(`${report.unindexedPacks.length} packs are not in any index (left by an interrupted backup; "vault gc" removes them)`);
        lines.push(report.ok ? 'No damage found.' : `${report.problems.length} damaged object${report.problems.length === 1 ? '' : 's'} found.`);
        printLines(io, lines);
      });
    });
}
