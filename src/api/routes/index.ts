import type { ApiRoute } from '../route.js';
import { API_VERSION } from '../version.js';
import { jobRoutes } from './jobs.js';
import { overviewRoutes } from './overview.js';
import { policyRoutes } from './policies.js';
import { protectionRoutes } from './protection.js';
import { sessionRoutes } from './session.js';
import { vaultRoutes } from './vault.js';
import { vmRoutes } from './vms.js';

/** Every built-in route (users, tokens, audit and secrets come as the server's extraRoutes). */
export function apiRoutes(version = API_VERSION): ApiRoute[] {
  return [...sessionRoutes(version), ...overviewRoutes(), ...vmRoutes(), ...protectionRoutes(), ...policyRoutes(), ...jobRoutes(), ...vaultRoutes()];
}
