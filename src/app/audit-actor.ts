/**
 * Who does an audited action and from where: the signed-in user and the request's address (API), or
 * "local:<os user>" and "cli" for commands on the server's own shell.
 */
export interface AuditActor {
  userName: string;
  source: string;
}
