import { constants } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { latestPoint, localActor, readPointSecrets } from '../../app/index.js';
import { BovedaError } from '../../core/index.js';
import { withApp, type AppCommandOptions } from '../app-options.js';
import type { CommandContext } from '../command-context.js';
import { addDataOptions } from '../data-options.js';
import { printJson, printLines } from '../io.js';


interface RestoreOptions extends AppCommandOptions {
  point?: string;
  to: string;
}

/**
 * `boveda secrets restore VM [--point ID] --to DIR`: writes each secret a point stored to DIR/<name>,
 * mode 0600, never over an existing file. The read is audited (secrets.read) before anything is written.
 */
export function registerSecretsRestore(program: Command, context: CommandContext): void {
  const secrets = program.command('secrets').description('disk-encryption secrets stored with recovery points');
  addDataOptions(secrets.command('restore').argument('<vm>', 'the VM (its points are found even if its definition was removed)')
    .description('write the secrets a recovery point stored, one file per secret (mode 0600); audited')
    .option('--point <id>', 'the recovery point (id or unique prefix; default: the newest point of the VM)')
    .requiredOption('--to <dir>', 'directory to write to (created if missing; existing files are never replaced)'))
    .action(async (vmName: string, options: RestoreOptions) => {
      const { io } = context;
      const dir = resolve(options.to);
      await withApp(options, io, async (app) => {
        let pointId = options.point;
        if (pointId === undefined) {
          const latest = await latestPoint(await app.vault(), vmName, context.signal);
          if (!latest) throw new BovedaError('POINT_NOT_FOUND', `VM "${vmName}" has no recovery points`);
          pointId = latest.pointId;
        }
        const read = await readPointSecrets(app, vmName, pointId, localActor());
        if (read.secrets.length === 0) throw new BovedaError('SECRET_NOT_FOUND', `recovery point ${read.pointId} of VM "${vmName}" stored no secrets`);
        const written = await writeSecretFiles(dir, read.secrets);
        if (options.json) return printJson(io, { vm: vmName, pointId: read.pointId, files: read.secrets.map((secret, i) => ({ name: secret.name, kind: secret.kind, sizeBytes: secret.sizeBytes, path: written[i] })) });
        printLines(io, [`Restored ${written.length} secret${written.length === 1 ? '' : 's'} of point ${read.pointId} of VM ${vmName} (mode 0600):`, ...written.map((path) => `  ${path}`)]);
      });
    });
}

/**
 * Writes each secret to DIR/<name> (DIR created 0700 if missing), mode 0600, never over an existing
 * file: every name is checked first. Returns the paths written, in order (shared with the remote CLI).
 */
export async function writeSecretFiles(dir: string, secrets: readonly { name: string; value: Buffer }[]): Promise<string[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Every name is checked first, so a clash writes nothing; O_EXCL still refuses a file that appears meanwhile.
  for (const secret of secrets) {
    const target = join(dir, secret.name);
    if (await lstat(target).catch(() => undefined)) throw new BovedaError('RESTORE_TARGET_EXISTS', `${target} exists: secrets are never written over a file (choose another --to)`);
  }
  const written: string[] = [];
  for (const secret of secrets) {
    const target = join(dir, secret.name);
    const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new BovedaError('RESTORE_TARGET_EXISTS', `${target} exists: secrets are never written over a file`, { cause: error });
      throw error;
    });
    try {
      await handle.chmod(0o600); // the umask may have narrowed it, never widened: make it exact
      await handle.writeFile(secret.value);
      await handle.sync();
    } finally {
      await handle.close();
    }
    written.push(target);
  }
  return written;
}
