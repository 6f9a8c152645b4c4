import { BovedaError } from './errors.js';

/**
 * Rules of a VM's disk-encryption secrets (a LUKS passphrase, a key file, a BEK/KEK of another
 * system). One place, so the catalog, the CLI and the API refuse the same input with the same words.
 */
export const SECRET_KINDS = ['luks-passphrase', 'key-file', 'other'] as const;
export type SecretKind = (typeof SECRET_KINDS)[number];
/** Names like disk names: they become file names on `secrets restore`. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const MAX_SECRET_BYTES = 65_536;
export const MAX_SECRETS_PER_VM = 32;

export function isSecretKind(value: unknown): value is SecretKind {
  return typeof value === 'string' && (SECRET_KINDS as readonly string[]).includes(value);
}

export function checkSecretName(name: unknown): string {
  if (typeof name !== 'string' || !SECRET_NAME_PATTERN.test(name)) {
    throw new BovedaError('INVALID_ARGUMENT', `invalid secret name ${JSON.stringify(typeof name === 'string' && name.length > 80 ? `${name.slice(0, 80)}…` : name)}: use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}

export function checkSecretKind(kind: unknown): SecretKind {
  if (!isSecretKind(kind)) throw new BovedaError('INVALID_ARGUMENT', `invalid secret kind ${JSON.stringify(typeof kind === 'string' ? kind.slice(0, 40) : kind)}: use one of ${SECRET_KINDS.join(', ')}`);
  return kind;
}

export function checkSecretValue(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new BovedaError('INVALID_ARGUMENT', `the value of secret "${name}" must be bytes`);
  if (value.length < 1 || value.length > MAX_SECRET_BYTES) {
    throw new BovedaError('INVALID_ARGUMENT', `the value of secret "${name}" has ${value.length} bytes: it must have 1 to ${MAX_SECRET_BYTES}`);
  }
  return value;
}
