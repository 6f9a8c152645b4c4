import { JsonFields, encodeJson } from './json-fields.js';
import { POINT_ID_PATTERN } from './point-manifest.js';

/**
 * Disk-encryption secrets in the vault (docs/vault-format.md §18).
 *
 * - `secrets-key`: envelope "BVSK" v1 ‖ seal(wrap key, AAD = header ‖ vault id as 32 ASCII hex, the 32-byte KEK).
 *   The wrap key is HKDF(master key, "boveda v1 secrets-key-wrap"); the KEK is random, so it seals
 *   nothing but secrets and no block, page, index or manifest key can open them.
 * - `secrets/<point id>`: envelope "BVSC" v1 ‖ seal(KEK, AAD = header ‖ pointSecretsAad, this JSON),
 *   where each value is itself sealed under the KEK with AAD = pointSecretAad (binding the secret name).
 * - The catalog's current secrets: seal(KEK, AAD = vmSecretAad, value).
 * AADs are UTF-8 JSON arrays: unambiguous whatever the names hold, and distinct per use by their first element.
 */
export const SECRETS_KEY_VERSION = 1;
export const POINT_SECRETS_VERSION = 1;
export const SECRETS_KEY_BYTES = 32;

export interface PointSecretsContent {
  version: 1;
  pointId: string;
  subject: string;
  secrets: SealedPointSecret[];
}

export interface SealedPointSecret {
  name: string;
  kind: string;
  sizeBytes: number;
  /** nonce ‖ ciphertext ‖ tag of the value (base64 in the JSON). */
  sealed: Uint8Array;
}

const aad = (parts: string[]) => new TextEncoder().encode(JSON.stringify(parts));

export function secretsKeyAad(header: Uint8Array, vaultId: string): Uint8Array {
  return Buffer.concat([header, Buffer.from(vaultId, 'ascii')]);
}

export function pointSecretsAad(header: Uint8Array, vaultId: string, subject: string, pointId: string): Uint8Array {
  return Buffer.concat([header, aad(['boveda point secrets v1', vaultId, subject, pointId])]);
}

export function pointSecretAad(vaultId: string, subject: string, pointId: string, name: string): Uint8Array {
  return aad(['boveda point secret v1', vaultId, subject, pointId, name]);
}

export function vmSecretAad(vaultId: string, vmName: string, name: string): Uint8Array {
  return aad(['boveda vm secret v1', vaultId, vmName, name]);
}

export function encodePointSecrets(content: PointSecretsContent): Uint8Array {
  return encodeJson({
    version: content.version, pointId: content.pointId, subject: content.subject,
    secrets: content.secrets.map((secret) => ({ name: secret.name, kind: secret.kind, sizeBytes: secret.sizeBytes, sealed: Buffer.from(secret.sealed).toString('base64') })),
  });
}

export function decodePointSecrets(plain: Uint8Array, what: string): PointSecretsContent {
  const fields = JsonFields.parse(plain, what);
  fields.integer('version', POINT_SECRETS_VERSION, POINT_SECRETS_VERSION);
  return {
    version: 1,
    pointId: fields.string('pointId', POINT_ID_PATTERN),
    subject: fields.string('subject'),
    secrets: fields.array('secrets').map((value, index) => {
      const secret = new JsonFields(value, `${what} secret #${index}`);
      return {
        name: secret.string('name'), kind: secret.string('kind'), sizeBytes: secret.integer('sizeBytes'),
        sealed: new Uint8Array(Buffer.from(secret.string('sealed', /^[A-Za-z0-9+/]*={0,2}$/), 'base64')),
      };
    }),
  };
}
