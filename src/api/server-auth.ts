import type { Principal, Role } from '../core/index.js';

/** A successful login: the session token (shown once), its record and the user. */
export interface LoginResult {
  token: string;
  record: { id: string; expiresAt: string | null };
  user: { name: string; role: Role; keyRestore: boolean };
}

/**
 * What the server needs of authentication: exactly the methods of the app's UserService, so the
 * server is given one. authenticate: AUTH_REQUIRED for unknown, revoked or expired tokens. login:
 * AUTH_FAILED for a wrong name or password, RATE_LIMITED (with a numeric `retryAfterSeconds`
 * property on the error) when throttled.
 */
export interface ServerAuth {
  authenticate(token: string, source: string): Promise<Principal>;
  login(name: string, password: string, source: string): Promise<LoginResult>;
  logout(tokenId: string): Promise<void>;
}
