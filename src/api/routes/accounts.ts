import { Type } from '@sinclair/typebox';
import type { UserService } from '../../app/index.js';
import { allows, BovedaError, ROLES } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { Body, Name } from '../schemas.js';

const RoleSchema = Type.Union(ROLES.map((role) => Type.Literal(role)), { description: 'reader | operator | contributor | admin' });
const UserParams = Type.Object({ name: Name('user name') });
const TokenParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128, description: 'token id' }) });
const Password = Type.String({ minLength: 1, maxLength: 1024, description: 'at least 12 characters' });

/**
 * Users, API tokens and the audit log. Managing users and reading the audit log is the admin's
 * (`administer`); every user may list, create and revoke their own API tokens, an admin anyone's.
 * The UserService audits each change with the caller as actor.
 */
export function accountRoutes(users: UserService): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/users', summary: 'every user (never a password)', permission: 'administer', schema: {},
      handler: async () => ({ body: { users: await users.listUsers() } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/users', summary: 'add a user; a password is generated (and shown once) when none is given', permission: 'administer',
      schema: { body: Body({ name: Name('user name'), role: RoleSchema, password: Type.Optional(Password), keyRestore: Type.Optional(Type.Boolean()) }) },
      handler: async ({ body, principal, source }) => {
        const added = await users.addUser(body, { userName: principal!.userName, source });
        return { status: 201, body: { user: added.user, password: added.generated ? added.password : undefined } };
      },
    }),
    defineRoute({
      method: 'PATCH', url: '/api/users/:name', summary: 'change a user\'s role, password, key-restore permission, or disable/enable them', permission: 'administer',
      schema: { params: UserParams, body: Body({ role: Type.Optional(RoleSchema), password: Type.Optional(Password), disabled: Type.Optional(Type.Boolean()), keyRestore: Type.Optional(Type.Boolean()) }) },
      handler: async ({ params, body, principal, source }) => ({ body: { user: await users.updateUser(params.name, body, { userName: principal!.userName, source }) } }),
    }),
    defineRoute({
      method: 'DELETE', url: '/api/users/:name', summary: 'remove a user and their tokens', permission: 'administer', schema: { params: UserParams },
      handler: async ({ params, principal, source }) => {
        await users.removeUser(params.name, { userName: principal!.userName, source });
        return { body: { removed: params.name } };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/me/password', summary: 'change one\'s own password (the current one is needed; every session ends, log in again)', permission: 'view',
      schema: { body: Body({ currentPassword: Password, newPassword: Password }) },
      handler: async ({ body, principal, source }) => ({ body: { user: await users.changeOwnPassword(principal!.userName, body.currentPassword, body.newPassword, source) } }),
    }),
    defineRoute({
      method: 'GET', url: '/api/tokens', summary: 'the caller\'s API tokens (an admin may ask for ?user=NAME); never the secrets', permission: 'view',
      schema: { querystring: Type.Object({ user: Type.Optional(Name('user name')) }, { additionalProperties: false }) },
      handler: async ({ query, principal }) => {
        const userName = query.user ?? principal!.userName;
        if (userName !== principal!.userName && !allows(principal!, 'administer')) throw new BovedaError('FORBIDDEN', 'listing another user\'s tokens needs the admin role (permission administer)');
        if (userName !== principal!.userName) await users.getUser(userName);
        return { body: { tokens: await users.listTokens(userName) } };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/tokens', summary: 'a new API token for the caller (the secret is in this answer only)', permission: 'view',
      schema: { body: Body({ name: Type.String({ minLength: 1, maxLength: 64 }), expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) }) },
      handler: async ({ body, principal, source }) => {
        const issued = await users.createApiToken(principal!.userName, body, { userName: principal!.userName, source });
        return { status: 201, body: { token: issued.token, record: issued.record } };
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/tokens/:id', summary: 'revoke an API token (one\'s own; an admin anyone\'s)', permission: 'view', schema: { params: TokenParams },
      handler: async ({ params, principal, source }) => {
        const ownedBy = allows(principal!, 'administer') ? undefined : principal!.userName;
        const revoked = await users.revokeToken(params.id, { userName: principal!.userName, source }, { ownedBy });
        return { body: { revoked } };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/audit', summary: 'the audit log, newest first', permission: 'administer',
      schema: {
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })), beforeId: Type.Optional(Type.Integer({ minimum: 1 })),
          action: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), target: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        }, { additionalProperties: false }),
      },
      handler: async ({ app, query }) => ({ body: { entries: await app.catalog.audit.list(query) } }),
    }),
  ];
}
