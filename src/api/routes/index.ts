import type { ApiRoute } from '../route.js';
import { jobRoutes } from './jobs.js';
import { overviewRoutes } from './overview.js';
import { policyRoutes } from './policies.js';
import { protectionRoutes } from './protection.js';
import { sessionRoutes } from './session.js';
import { vaultRoutes } from './vault.js';
import { vmRoutes } from './vms.js';

/** Every built-in route (users, tokens, audit and secrets come as the server's extraRoutes). */
export function apiRoutes(version = '0.1.0'): ApiRoute[] {
  return [...sessionRoutes(version), ...overviewRoutes(), ...vmRoutes(), ...protectionRoutes(), ...policyRoutes(), ...jobRoutes(), ...vaultRoutes()];
}
