import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';

/** AES-256-GCM framing used for every encrypted object: nonce (12) ‖ ciphertext ‖ tag (16). */
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

// Nonces come from a pool filled 4 KiB at a time: one CSPRNG call per 341 nonces instead of one each
// (a per-call randomBytes cost more than the AES-GCM of a 16 KiB block).
const noncePool = new Uint8Array(NONCE_BYTES * 341);
let noncePoolAt = noncePool.length;

function freshNonce(): Uint8Array {
  if (noncePoolAt + NONCE_BYTES > noncePool.length) {
    randomFillSync(noncePool);
    noncePoolAt = 0;
  }
  const nonce = noncePool.slice(noncePoolAt, noncePoolAt + NONCE_BYTES);
  noncePoolAt += NONCE_BYTES;
  return nonce;
}

/**
 * Encrypts `parts` (concatenated as the plaintext) under `key` with a fresh random nonce and
 * `aad` authenticated alongside. Taking parts avoids copying a header byte in front of a block.
 */
export function seal(key: Uint8Array, aad: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(NONCE_BYTES + length + TAG_BYTES);
  sealInto(key, aad, out, ...parts);
  return out;
}

/**
 * seal() written into `out` (which must hold NONCE_BYTES + plaintext + TAG_BYTES) instead of a new
 * array; returns the number of bytes written. The same framing and the same bytes as seal().
 */
export function sealInto(key: Uint8Array, aad: Uint8Array, out: Uint8Array, ...parts: Uint8Array[]): number {
  const nonce = freshNonce();
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  out.set(nonce, 0);
  let at = NONCE_BYTES;
  for (const part of parts) {
    const chunk = cipher.update(part);
    out.set(chunk, at);
    at += chunk.length;
  }
  const final = cipher.final();
  out.set(final, at);
  at += final.length;
  out.set(cipher.getAuthTag(), at);
  return at + TAG_BYTES;
}

/** Decrypts a sealed object; returns undefined when authentication fails (wrong key, altered or swapped bytes). */
export function open(key: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined {
  if (sealed.length < SEAL_OVERHEAD) return undefined;
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const head = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    const tail = decipher.final();
    if (tail.length === 0) return new Uint8Array(head.buffer, head.byteOffset, head.length);
    const out = new Uint8Array(head.length + tail.length);
    out.set(head, 0);
    out.set(tail, head.length);
    return out;
  } catch {
    return undefined;
  }
}
