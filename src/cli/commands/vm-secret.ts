import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { listVmSecrets, localActor, removeVmSecret, setVmSecret } from '../../app/index.js';
import { BovedaError, SECRET_KINDS, checkSecretKind, type SecretKind } from '../../core/index.js';
import { formatSize } from '../../util/index.js';
import { withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { addDataOptions } from '../data-options.js';
import { printJson, printLines, type CliIo } from '../io.js';


interface SetOptions extends AppCommandOptions {
  file?: string;
  stdin?: boolean;
  kind?: string;
}

export async function readAll(io: CliIo): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** `boveda vm secret set|list|remove`: the disk-encryption secrets a VM's backups carry (docs/secrets.md). */
export function registerVmSecret(vm: Command, context: CommandContext): void {
  const secret = vm.command('secret').description('the disk-encryption secrets (LUKS passphrase, key file…) stored with each backup of a VM');

  addDataOptions(secret.command('set').argument('<vm>', 'the VM').argument('<name>', 'the secret\'s name (it becomes a file name on restore)')
    .description('add or replace a secret; its value is read from a file or stdin as exact bytes and kept only encrypted')
    .option('--file <file>', 'read the value from this file')
    .option('--stdin', 'read the value from standard input (exact bytes: a trailing newline is part of it)')
    .option('--kind <kind>', `${SECRET_KINDS.join(' | ')} (default: key-file with --file, luks-passphrase with --stdin)`))
    .action(async (vmName: string, name: string, options: SetOptions) => {
      const { io } = context;
      if ((options.file === undefined) === (options.stdin !== true)) throw new BovedaError('INVALID_ARGUMENT', 'give the value with exactly one of --file FILE or --stdin');
      const kind: SecretKind = options.kind !== undefined ? checkSecretKind(options.kind) : options.file !== undefined ? 'key-file' : 'luks-passphrase';
      let value: Buffer;
      try {
        value = options.file !== undefined ? await readFile(options.file) : await readAll(io);
      } catch (error) {
        throw new BovedaError('INVALID_ARGUMENT', `cannot read the secret's value from ${options.file ?? 'stdin'}: ${(error as Error).message}`, { cause: error });
      }
      await withApp(options, io, async (app) => {
        const summary = await setVmSecret(app, vmName, { name, kind, value }, localActor());
        if (options.json) return printJson(io, summary);
        printLines(io, [`Secret ${summary.name} (${summary.kind}, ${summary.sizeBytes} bytes) of VM ${vmName} stored encrypted; the next backups carry it`]);
      });
    });

  addDataOptions(secret.command('list').argument('<vm>', 'the VM').description('list a VM\'s secrets (names, kinds and sizes; never values)'))
    .action(async (vmName: string, options: AppCommandOptions) => {
      const { io } = context;
      await withApp(options, io, async (app) => {
        const secrets = await listVmSecrets(app, vmName);
        if (options.json) return printJson(io, secrets);
        if (secrets.length === 0) return printLines(io, [`VM "${vmName}" has no secrets (add one with "boveda vm secret set ${vmName} NAME --file FILE").`]);
        printLines(io, ['NAME                              KIND             SIZE        UPDATED (UTC)', ...secrets.map((entry) =>
          `${entry.name.padEnd(32)}  ${entry.kind.padEnd(15)}  ${formatSize(entry.sizeBytes).padEnd(10)}  ${entry.updatedAt}`)]);
      });
    });

  addDataOptions(secret.command('remove').argument('<vm>', 'the VM').argument('<name>', 'the secret').description('forget a secret; recovery points that stored it keep it'))
    .action(async (vmName: string, name: string, options: AppCommandOptions) => {
      const { io } = context;
      await withApp(options, io, async (app) => {
        await removeVmSecret(app, vmName, name, localActor());
        if (options.json) return printJson(io, { removed: name, vm: vmName });
        printLines(io, [`Removed secret ${name} of VM ${vmName} (recovery points that stored it keep it)`]);
      });
    });
}
