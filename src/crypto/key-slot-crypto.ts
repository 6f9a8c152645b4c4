import { hkdfSync, randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { promisify } from 'node:util';
import { open, seal } from './aead.js';

const scrypt = promisify(scryptCallback) as (
  password: Uint8Array, salt: Uint8Array, keylen: number, options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** Interactive-strength default: about 0.1 s and 32 MiB per unlock on a current server core. */
export const defaultScryptParams: ScryptParams = { N: 32768, r: 8, p: 1 };

export type SlotSecret = { kind: 'passphrase'; passphrase: string } | { kind: 'key-file'; key: Uint8Array };

/** Derives the 32-byte key that wraps the master key in one slot. */
export async function deriveSlotKey(secret: SlotSecret, salt: Uint8Array, params: ScryptParams): Promise<Uint8Array> {
  if (secret.kind === 'passphrase') {
    const maxmem = 128 * params.N * params.r * 2 + 1024 * 1024;
    const key = await scrypt(new TextEncoder().encode(secret.passphrase.normalize('NFC')), salt, 32, { ...params, maxmem });
    return new Uint8Array(key);
  }
  // A key file already holds 256 random bits: stretching adds nothing, HKDF separates it per slot.
  return new Uint8Array(hkdfSync('sha256', secret.key, salt, 'boveda v1 key-file slot', 32));
}

export function wrapMasterKey(slotKey: Uint8Array, masterKey: Uint8Array, aad: Uint8Array): Uint8Array {
  return seal(slotKey, aad, masterKey);
}

export function unwrapMasterKey(slotKey: Uint8Array, wrapped: Uint8Array, aad: Uint8Array): Uint8Array | undefined {
  return open(slotKey, aad, wrapped);
}

export function newSalt(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

/** Content of a new key file: 32 random bytes, written base64 so it survives copy and paste. */
export function newKeyFileContent(): string {
  return `boveda-key-v1:${randomBytes(32).toString('base64')}\n`;
}

/** Parses a key file; returns undefined when the text is not a Boveda key file. */
export function parseKeyFileContent(text: string): Uint8Array | undefined {
  const match = /^boveda-key-v1:([A-Za-z0-9+/]{43}=)\s*$/.exec(text);
  if (!match) return undefined;
  return new Uint8Array(Buffer.from(match[1]!, 'base64'));
}
