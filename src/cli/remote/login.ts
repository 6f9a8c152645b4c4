import { hostname } from 'node:os';
import type { Command } from 'commander';
import { BovedaError } from '../../core/index.js';
import type { CommandContext } from '../command-context.js';
import { printJson, printLines, promptSecret } from '../io.js';
import { expiresDaysFlag, readPasswordFile } from '../commands/user.js';
import { ApiClient, remoteServer, SERVER_ENV, TOKEN_ENV } from './api-client.js';

interface LoginOptions {
  server?: string;
  name: string;
  passwordFile?: string;
  tokenName?: string;
  expiresDays?: string;
  json?: boolean;
}

/**
 * `boveda login`: logs in to a server with a user's password and prints a new API token for
 * BOVEDA_TOKEN. The login session only lives for this command: it creates the token and logs out.
 */
export function registerLogin(program: Command, context: CommandContext): void {
  program.command('login').description(`log in to a Boveda server and print an API token to use as ${TOKEN_ENV} (with ${SERVER_ENV})`)
    .option('--server <url>', `the server's base URL (default: $${SERVER_ENV}), e.g. http://127.0.0.1:8080`)
    .option('--name <user>', 'the user name', 'admin')
    .option('--password-file <file>', 'read the password from the first line of this file (default: a prompt)')
    .option('--token-name <name>', 'what the token is for (default: cli@<this host>)')
    .option('--expires-days <n>', 'expire the token after N days (1 to 3650; default: never)')
    .option('--json', 'print machine-readable JSON')
    .action(async (options: LoginOptions) => {
      const { io, signal } = context;
      const server = options.server ?? remoteServer(io.env);
      if (server === undefined) throw new BovedaError('INVALID_ARGUMENT', `give the server with --server URL or $${SERVER_ENV}`);
      const url = new ApiClient(server).baseUrl;
      const expiresInDays = expiresDaysFlag(options.expiresDays);
      const password = options.passwordFile !== undefined ? await readPasswordFile(options.passwordFile) : await promptSecret(io, `Password of ${options.name} on ${url}: `);
      if (password === '') throw new BovedaError('INVALID_ARGUMENT', 'no password given');
      const login = await new ApiClient(url).request<{ token: string }>('POST', '/api/login', { body: { name: options.name, password }, signal });
      const session = new ApiClient(url, login.token);
      try {
        const issued = await session.request<{ token: string; record: { id: string; name: string; userName: string; expiresAt: string | null } }>(
          'POST', '/api/tokens', { body: { name: (options.tokenName ?? `cli@${hostname()}`).slice(0, 64), expiresInDays }, signal });
        if (options.json) return printJson(io, { server: url, id: issued.record.id, token: issued.token, record: issued.record });
        printLines(io, [
          `Logged in to ${url} as ${issued.record.userName}; created API token ${issued.record.id} ("${issued.record.name}"), ${issued.record.expiresAt ? `expires ${issued.record.expiresAt}` : 'never expires'}.`,
          'Use it (shown only this once) with:',
          `  export ${SERVER_ENV}=${url}`,
          `  export ${TOKEN_ENV}=${issued.token}`,
        ]);
      } finally {
        await session.request('POST', '/api/logout').catch(() => undefined);
      }
    });
}
