import { Type } from '@sinclair/typebox';
import { listPointSecrets, listVmSecrets, readPointSecrets, removeVmSecret, setVmSecret } from '../../app/index.js';
import { BovedaError, MAX_SECRET_BYTES, SECRET_KINDS } from '../../core/index.js';
import { defineRoute, type ApiRoute } from '../route.js';
import { Body, Name, VmParams } from '../schemas.js';

const SecretParams = Type.Object({ name: Name('VM name'), secret: Name('secret name') });
const PointParams = Type.Object({ name: Name('VM name'), point: Type.String({ minLength: 1, maxLength: 128, description: 'point id or unique prefix' }) });
// Base64 of at most MAX_SECRET_BYTES bytes.
const MAX_BASE64 = Math.ceil(MAX_SECRET_BYTES / 3) * 4;

/**
 * A VM's disk-encryption secrets (docs/secrets.md): names, kinds and sizes are visible to readers;
 * setting one is configuration, removing one destroys (audited); reading the values of a recovery
 * point's secrets needs restore-keys (admin, or a user given keyRestore) and the secret service
 * audits every read, refused ones too.
 */
export function secretRoutes(): ApiRoute[] {
  return [
    defineRoute({
      method: 'GET', url: '/api/vms/:name/secrets', summary: 'names, kinds and sizes of the VM\'s current secrets (never values)', permission: 'view',
      schema: { params: VmParams },
      handler: async ({ app, params }) => ({ body: { secrets: await listVmSecrets(app, params.name) } }),
    }),
    defineRoute({
      method: 'PUT', url: '/api/vms/:name/secrets/:secret', summary: 'set a secret (value in base64); later backups carry it, sealed under the vault\'s secrets key', permission: 'configure',
      schema: {
        params: SecretParams,
        body: Body({ kind: Type.Union(SECRET_KINDS.map((kind) => Type.Literal(kind))), valueBase64: Type.String({ minLength: 1, maxLength: MAX_BASE64, pattern: '^[A-Za-z0-9+/]*={0,2}$' }) }),
      },
      handler: async ({ app, params, body, principal, source }) => {
        const value = Buffer.from(body.valueBase64, 'base64');
        if (value.toString('base64').replace(/=+$/, '') !== body.valueBase64.replace(/=+$/, '')) throw new BovedaError('INVALID_ARGUMENT', 'valueBase64 is not valid base64');
        return { body: { secret: await setVmSecret(app, params.name, { name: params.secret, kind: body.kind, value }, { userName: principal!.userName, source }) } };
      },
    }),
    defineRoute({
      method: 'DELETE', url: '/api/vms/:name/secrets/:secret', summary: 'remove a secret from the VM (points keep theirs; audited)', permission: 'destroy',
      schema: { params: SecretParams },
      handler: async ({ app, params, principal, source }) => {
        await removeVmSecret(app, params.name, params.secret, { userName: principal!.userName, source });
        return { body: { removed: params.secret } };
      },
    }),
    defineRoute({
      method: 'GET', url: '/api/vms/:name/points/:point/secrets', summary: 'the names of the secrets a recovery point holds (never values)', permission: 'view',
      schema: { params: PointParams },
      handler: async ({ app, params }) => ({ body: { secrets: await listPointSecrets(app, params.name, params.point) } }),
    }),
    defineRoute({
      method: 'POST', url: '/api/vms/:name/points/:point/secrets/restore', summary: 'the values of a recovery point\'s secrets, base64 (restore-keys; every read audited)', permission: 'restore-keys',
      auditRefusals: (params) => ({ action: 'secrets.read', target: `vm:${params.name}`, details: { point: params.point } }),
      schema: { params: PointParams },
      handler: async ({ app, params, principal, source }) => {
        const read = await readPointSecrets(app, params.name, params.point, { userName: principal!.userName, source });
        return { body: { pointId: read.pointId, secrets: read.secrets.map(({ value, ...summary }) => ({ ...summary, valueBase64: value.toString('base64') })) } };
      },
    }),
  ];
}
