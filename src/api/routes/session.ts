import { Type } from '@sinclair/typebox';
import { permissionsOf } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { Body, Name } from '../schemas.js';

const COOKIE = 'boveda_session';

export function sessionRoutes(version: string): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/health', summary: 'liveness: {status:"ok", version}', permission: null, schema: {},
      handler: async () => ({ body: { status: 'ok', version } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/login', summary: 'log in: a session token, also set as the boveda_session cookie (rate-limited)', permission: null,
      schema: { body: Body({ name: Name('user name'), password: Type.String({ minLength: 1, maxLength: 1024 }) }) },
      handler: async ({ app, body, auth, source, reply }) => {
        const login = await auth.login(body.name, body.password, source);
        // expiresAt comes from the app clock: the cookie's lifetime is measured on the same clock.
        const maxAge = login.record.expiresAt ? Math.max(0, Math.floor((Date.parse(login.record.expiresAt) - app.clock.now().getTime()) / 1000)) : null;
        reply.header('Set-Cookie', `${COOKIE}=${login.token}; HttpOnly; SameSite=Strict; Path=/${maxAge !== null ? `; Max-Age=${maxAge}` : ''}`);
        return { body: { token: login.token, expiresAt: login.record.expiresAt, user: login.user } };
      },
    }),
    defineRoute({
      method: 'POST', url: '/api/logout', summary: 'end this session (and clear the cookie)', permission: 'view', schema: {},
      handler: async ({ principal, auth, reply }) => {
        await auth.logout(principal!.tokenId);
        reply.header('Set-Cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
        return { body: { loggedOut: true } };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/me', summary: 'the signed-in user and what they may do', permission: 'view', schema: {},
      handler: async ({ principal }) => ({ body: { name: principal!.userName, role: principal!.role, keyRestore: principal!.keyRestore, permissions: permissionsOf(principal!) } }),
    }),
  ];
}
