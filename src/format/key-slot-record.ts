import { FormatError } from './binary.js';
import { JsonFields, encodeJson } from './json-fields.js';

/**
 * A key slot (storage key "keys/<id>"), plaintext JSON: how to turn a secret into the key that
 * unwraps this slot's copy of the master key. Adding or removing a slot never touches data.
 */
export interface KeySlotRecord {
  version: 1;
  id: string;
  /** The vault this slot belongs to: slots left by an interrupted init of another vault are ignored. */
  vaultId: string;
  kind: 'passphrase' | 'key-file';
  label: string;
  createdAt: string;
  kdf: { algorithm: 'scrypt'; N: number; r: number; p: number } | { algorithm: 'hkdf-sha256' };
  /** base64, 32 bytes. */
  salt: string;
  /** base64 of nonce ‖ encrypted master key ‖ tag (AAD: see keySlotAad). */
  wrappedKey: string;
}

export const KEY_SLOT_ID_PATTERN = /^[0-9a-f]{8}$/;

/** Binds a wrapped key to its vault and slot, so a slot copied into another vault or renamed fails to open. */
export function keySlotAad(vaultId: string, slotId: string): Uint8Array {
  return new TextEncoder().encode(`boveda key slot v1 ${vaultId} ${slotId}`);
}

export function encodeKeySlot(record: KeySlotRecord): Uint8Array {
  return encodeJson(record);
}

export function decodeKeySlot(bytes: Uint8Array, what: string): KeySlotRecord {
  const fields = JsonFields.parse(bytes, what);
  const version = fields.integer('version', 1);
  if (version !== 1) throw new FormatError(`${what} has unknown version ${version}`);
  const kind = fields.string('kind');
  if (kind !== 'passphrase' && kind !== 'key-file') throw new FormatError(`${what} has unknown kind "${kind}"`);
  const kdfFields = fields.object('kdf');
  const algorithm = kdfFields.string('algorithm');
  let kdf: KeySlotRecord['kdf'];
  if (algorithm === 'scrypt') {
    kdf = { algorithm, N: kdfFields.integer('N', 1024, 2 ** 24), r: kdfFields.integer('r', 1, 64), p: kdfFields.integer('p', 1, 64) };
    if ((kdf.N & (kdf.N - 1)) !== 0) throw new FormatError(`${what}: scrypt N ${kdf.N} is not a power of two`);
  } else if (algorithm === 'hkdf-sha256') {
    kdf = { algorithm };
  } else {
    throw new FormatError(`${what} has unknown kdf "${algorithm}"`);
  }
  if ((kind === 'passphrase') !== (algorithm === 'scrypt')) throw new FormatError(`${what}: a ${kind} slot cannot use kdf "${algorithm}"`);
  return {
    version: 1,
    id: fields.string('id', KEY_SLOT_ID_PATTERN),
    vaultId: fields.string('vaultId', /^[0-9a-f]{32}$/),
    kind,
    label: fields.string('label'),
    createdAt: fields.string('createdAt'),
    kdf,
    salt: fields.string('salt', /^[A-Za-z0-9+/]{43}=$/),
    wrappedKey: fields.string('wrappedKey', /^[A-Za-z0-9+/=]+$/),
  };
}
