/**
 * Who does an audited action and from where: the signed-in user and the request's address (API), or
 * "local:<os user>" and "cli" for commands on the server's own shell. (The user service defines the
 * same interface; the two are one type by structure.)
 */
export interface AuditActor {
  userName: string;
  source: string;
}
