import { Command, CommanderError } from 'commander';
import { BovedaError } from '../core/index.js';
import type { CommandContext } from './command-context.js';
import { registerAudit } from './commands/audit.js';
import { registerBackup } from './commands/backup.js';
import { registerCatalogRebuild } from './commands/catalog-rebuild.js';
import { registerCleanup } from './commands/cleanup.js';
import { registerJobs } from './commands/jobs.js';
import { registerPolicy } from './commands/policy.js';
import { registerProtection } from './commands/protection.js';
import { registerScheduler } from './commands/scheduler.js';
import { registerServe } from './commands/serve.js';
import { registerSettings } from './commands/settings.js';
import { registerUsage } from './commands/usage.js';
import { registerUser } from './commands/user.js';
import { registerPoints } from './commands/points.js';
import { registerRestore } from './commands/restore.js';
import { registerVaultDeletePoint } from './commands/vault-delete-point.js';
import { registerVaultGc } from './commands/vault-gc.js';
import { registerVaultInfo } from './commands/vault-info.js';
import { registerVaultInit } from './commands/vault-init.js';
import { registerVaultKey } from './commands/vault-key.js';
import { registerVaultPoints } from './commands/vault-points.js';
import { registerVaultRestore } from './commands/vault-restore.js';
import { registerVaultUnlock } from './commands/vault-unlock.js';
import { registerVaultUsage } from './commands/vault-usage.js';
import { registerVaultVerify } from './commands/vault-verify.js';
import { registerVmAdd } from './commands/vm-add.js';
import { registerVmList } from './commands/vm-list.js';
import { registerVmRemove } from './commands/vm-remove.js';
import { registerVmSecret } from './commands/vm-secret.js';
import { registerSecretsRestore } from './commands/secrets-restore.js';
import { registerVmSet } from './commands/vm-set.js';
import { registerVmShow } from './commands/vm-show.js';
import { remoteServer } from './remote/api-client.js';
import { registerLogin } from './remote/login.js';
import { useRemoteServer } from './remote/remote-commands.js';
import { EXIT_CODES_HELP, processIo, reportError, type CliIo } from './io.js';

export const VERSION = '0.1.0';

function buildProgram(context: CommandContext): Command {
  const program = new Command('boveda')
    .description('Boveda: an encrypted, deduplicated, block-level backup vault for virtual-machine disks')
    .version(VERSION)
    .addHelpText('after', EXIT_CODES_HELP)
    .configureOutput({ writeOut: (text) => context.io.stdout.write(text), writeErr: (text) => context.io.stderr.write(text) })
    .exitOverride();
  for (const register of [
    registerBackup, registerPoints, registerRestore, registerPolicy, registerProtection, registerJobs, registerCleanup,
    registerScheduler, registerServe, registerUsage, registerSettings, registerCatalogRebuild, registerSecretsRestore, registerUser, registerAudit, registerLogin,
  ]) register(program, context);
  const vault = program.command('vault').description('create, inspect, verify and maintain a vault').addHelpText('after', EXIT_CODES_HELP);
  for (const register of [
    registerVaultInit, registerVaultInfo, registerVaultKey, registerVaultPoints, registerVaultRestore,
    registerVaultDeletePoint, registerVaultVerify, registerVaultGc, registerVaultUsage, registerVaultUnlock,
  ]) register(vault, context);
  const vm = program.command('vm').description('define the VMs to protect: their disks and scripts (kept in the catalog of the data directory)').addHelpText('after', EXIT_CODES_HELP);
  for (const register of [registerVmAdd, registerVmList, registerVmShow, registerVmSet, registerVmRemove, registerVmSecret]) register(vm, context);
  const applyToAll = (command: Command) => {
    command.exitOverride();
    command.configureOutput({ writeOut: (text) => context.io.stdout.write(text), writeErr: (text) => context.io.stderr.write(text) });
    command.commands.forEach(applyToAll);
  };
  applyToAll(program);
  // $BOVEDA_SERVER: the commands talk to that server's API instead of the local data directory.
  if (remoteServer(context.io.env) !== undefined) useRemoteServer(program, context, new Set(['login']));
  return program;
}

/** Runs the CLI with the given arguments (without "node boveda") and returns the exit status. */
export async function runCli(args: string[], io: CliIo = processIo, signal: AbortSignal = new AbortController().signal): Promise<number> {
  let exitCode = 0;
  const context: CommandContext = { io, signal, setExitCode: (code) => (exitCode = code) };
  const program = buildProgram(context);
  try {
    await program.parseAsync(args, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    const json = args.includes('--json');
    if (signal.aborted && !(error instanceof BovedaError)) return reportError(io, new BovedaError('ABORTED', 'cancelled'), json);
    return reportError(io, error, json);
  }
}
