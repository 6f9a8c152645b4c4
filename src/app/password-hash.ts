import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { BovedaError } from '../core/index.js';
import { scryptParamsFromEnv } from './local-vault.js';

/** scrypt cost of password hashes: N=2^15 (about 50 ms), unless BOVEDA_SCRYPT_N lowers it (tests). */
export interface PasswordHashParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_PASSWORD_HASH_PARAMS: PasswordHashParams = { N: 2 ** 15, r: 8, p: 1 };
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
// A stored hash names its own cost; these bounds keep a tampered row from costing gigabytes.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

export function passwordHashParamsFromEnv(env: NodeJS.ProcessEnv = process.env): PasswordHashParams {
  return scryptParamsFromEnv(env) ?? DEFAULT_PASSWORD_HASH_PARAMS;
}

/** INVALID_ARGUMENT unless `password` is a string of 12..1024 characters. */
export function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new BovedaError('INVALID_ARGUMENT', `a password must have ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`);
  }
  return password;
}

/** A random URL-safe password from the CSPRNG: 24 characters (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

/** The self-describing hash text "scrypt$N$r$p$salt$hash" (salt and hash base64) of `password`. */
export async function hashPassword(password: string, params: PasswordHashParams = passwordHashParamsFromEnv()): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params, HASH_BYTES);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Whether `password` matches `stored` (constant-time compare). False for text that is no hash of ours. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const hash = await derive(password, parsed.salt, parsed.params, parsed.hash.length);
  return timingSafeEqual(hash, parsed.hash);
}

function parseHash(stored: string): { params: PasswordHashParams; salt: Buffer; hash: Buffer } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const valid = Number.isInteger(N) && N >= 2 && N <= MAX_N && (N & (N - 1)) === 0
    && Number.isInteger(r) && r >= 1 && r <= MAX_R && Number.isInteger(p) && p >= 1 && p <= MAX_P;
  if (!valid) return null;
  const salt = Buffer.from(parts[4]!, 'base64');
  const hash = Buffer.from(parts[5]!, 'base64');
  if (salt.length === 0 || hash.length < 16) return null;
  return { params: { N, r, p }, salt, hash };
}

function derive(password: string, salt: Buffer, params: PasswordHashParams, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, length, { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}
