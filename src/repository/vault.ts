import { randomBytes, timingSafeEqual } from 'node:crypto';
import { BovedaError, isBovedaError } from '../core/index.js';
import {
  BlockCrypto, MASTER_KEY_BYTES, defaultScryptParams, deriveSecretsWrapKey, deriveSlotKey, deriveVaultKeys, hmacSha256, newSalt,
  unwrapMasterKey, wrapMasterKey, type ScryptParams, type SlotSecret, type VaultKeys,
} from '../crypto/index.js';
import {
  FORMAT_NAME, FORMAT_VERSION, FormatError, MAX_BLOCK_SIZE, MAX_PACK_SIZE, MIN_BLOCK_SIZE, MIN_PACK_SIZE, Paths,
  canonicalConfigBytes, decodeKeySlot, decodeVaultConfig, encodeKeySlot, encodeVaultConfig, isPowerOfTwo,
  keySlotAad, peekConfigVersion, type KeySlotRecord, type SignedVaultConfig, type VaultConfig,
} from '../format/index.js';
import type { BlobStore } from '../storage/index.js';
import { type Clock, systemClock } from '../util/index.js';
import { CryptoPool } from './crypto-pool.js';
import { VaultLock } from './vault-lock.js';
import { ensureSecretsKey, readSecretsKey } from './vault-secrets.js';

/** Defaults chosen by measurement; see docs/block-size.md. */
export const DEFAULT_BLOCK_SIZE = 16 * 1024;
export const DEFAULT_PACK_SIZE = 32 * 1024 * 1024;
/** zstd level 1: on /usr data at 16 KiB blocks 18% faster than level 3 for 3% more stored (backups are CPU-bound). */
export const DEFAULT_COMPRESSION_LEVEL = 1;
export const DEFAULT_MAP_FANOUT = 512;
/** The fanouts decodeVaultConfig accepts (format/vault-config.ts). */
const MIN_MAP_FANOUT = 16;
const MAX_MAP_FANOUT = 65536;

export interface VaultInitOptions {
  secret: SlotSecret;
  label?: string;
  blockSize?: number;
  packSize?: number;
  compressionLevel?: number;
  mapFanout?: number;
  /** scrypt cost of the first slot; lower only in tests. */
  scrypt?: ScryptParams;
  clock?: Clock;
}

export interface VaultOpenOptions {
  clock?: Clock;
  /** Worker threads for hashing, compression and encryption; defaults to one per core. */
  threads?: number;
}

export interface KeySlotSummary {
  id: string;
  kind: KeySlotRecord['kind'];
  label: string;
  createdAt: string;
}

/**
 * An unlocked vault: its config, its keys, and the store it lives on. Everything else in the
 * repository layer (writers, readers, verify, gc, accounting) works through a Vault.
 */
export class Vault {
  readonly store: BlobStore;
  readonly config: SignedVaultConfig;
  readonly keys: VaultKeys;
  readonly clock: Clock;
  /** The slot that opened this vault. */
  readonly openedWithSlot: string;
  readonly #threads: number | undefined;
  #pool: CryptoPool | undefined;
  #pageCrypto: BlockCrypto | undefined;
  #masterKey: Uint8Array;
  #secretsKey: Promise<Uint8Array> | undefined;

  private constructor(store: BlobStore, config: SignedVaultConfig, masterKey: Uint8Array, slotId: string, options: VaultOpenOptions) {
    this.store = store;
    this.config = config;
    this.#masterKey = masterKey;
    this.keys = deriveVaultKeys(masterKey, Buffer.from(config.vaultId, 'hex'));
    this.clock = options.clock ?? systemClock;
    this.openedWithSlot = slotId;
    this.#threads = options.threads;
  }

  static async init(store: BlobStore, options: VaultInitOptions): Promise<Vault> {
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (!isPowerOfTwo(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE) {
      throw new BovedaError('INVALID_ARGUMENT', `block size ${blockSize} must be a power of two from 4 KiB to 4 MiB`);
    }
    const compressionLevel = options.compressionLevel ?? DEFAULT_COMPRESSION_LEVEL;
    if (!Number.isInteger(compressionLevel) || compressionLevel < -7 || compressionLevel > 22) {
      throw new BovedaError('INVALID_ARGUMENT', `compression level ${compressionLevel} must be an integer from -7 to 22`);
    }
    const packSize = options.packSize ?? DEFAULT_PACK_SIZE;
    // Checked as strictly as decodeVaultConfig reads them back: a value it refuses would make a vault that never opens.
    if (!Number.isSafeInteger(packSize) || packSize < MIN_PACK_SIZE || packSize > MAX_PACK_SIZE) {
      throw new BovedaError('INVALID_ARGUMENT', `pack size ${packSize} must be a whole number of bytes from 1 MiB to 1 GiB`);
    }
    const mapFanout = options.mapFanout ?? DEFAULT_MAP_FANOUT;
    if (!Number.isSafeInteger(mapFanout) || mapFanout < MIN_MAP_FANOUT || mapFanout > MAX_MAP_FANOUT) {
      throw new BovedaError('INVALID_ARGUMENT', `map fanout ${mapFanout} must be an integer from ${MIN_MAP_FANOUT} to ${MAX_MAP_FANOUT}`);
    }
    if (await store.stat(Paths.config)) {
      throw new BovedaError('VAULT_EXISTS', `a vault already exists at ${store.location}`);
    }
    const clock = options.clock ?? systemClock;
    const masterKey = new Uint8Array(randomBytes(MASTER_KEY_BYTES));
    const config: VaultConfig = {
      format: FORMAT_NAME,
      version: FORMAT_VERSION,
      vaultId: randomBytes(16).toString('hex'),
      createdAt: clock.now().toISOString(),
      blockSize,
      hash: 'hmac-sha256',
      cipher: 'aes-256-gcm-hmac-sha256-subkey',
      compression: { algorithm: 'zstd', level: compressionLevel },
      packSize,
      mapFanout,
    };
    const keys = deriveVaultKeys(masterKey, Buffer.from(config.vaultId, 'hex'));
    const signed: SignedVaultConfig = { ...config, mac: Buffer.from(hmacSha256(keys.configMac, canonicalConfigBytes(config))).toString('hex') };
    // The slot goes first and the config last: the config's existence is what makes a vault, so an
    // interrupted init leaves no half vault (a stray slot names another vault id and is ignored).
    const slot = await writeKeySlot(store, config.vaultId, masterKey, options.secret, options.label ?? 'initial key', options.scrypt ?? defaultScryptParams, clock);
    try {
      await store.put(Paths.config, encodeVaultConfig(signed));
    } catch (error) {
      await store.delete(slot.key).catch(() => undefined);
      if (isBovedaError(error, 'STORAGE_EXISTS')) throw new BovedaError('VAULT_EXISTS', `a vault already exists at ${store.location}`, { cause: error });
      throw error;
    }
    return new Vault(store, signed, masterKey, slot.id, { clock });
  }

  /** Reads and validates the config without any key; refuses other formats and newer versions. */
  static async readConfig(store: BlobStore): Promise<SignedVaultConfig> {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(Paths.config);
    } catch (error) {
      if (isBovedaError(error, 'STORAGE_NOT_FOUND')) {
        throw new BovedaError('VAULT_NOT_FOUND', `${store.location} is not a Boveda vault (it has no config object); create one with "boveda vault init"`, { cause: error });
      }
      throw error;
    }
    try {
      const { format, version } = peekConfigVersion(bytes);
      if (format === FORMAT_NAME && version > FORMAT_VERSION) {
        throw new BovedaError('VAULT_UNSUPPORTED_VERSION', `vault at ${store.location} has format version ${version}; this Boveda reads versions up to ${FORMAT_VERSION}: upgrade Boveda to open it`);
      }
      return decodeVaultConfig(bytes);
    } catch (error) {
      if (error instanceof FormatError) {
        throw new BovedaError('VAULT_CONFIG_INVALID', `the config object of vault at ${store.location} is invalid: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }

  static async open(store: BlobStore, secrets: readonly SlotSecret[], options: VaultOpenOptions = {}): Promise<Vault> {
    const config = await Vault.readConfig(store);
    if (secrets.length === 0) {
      throw new BovedaError('VAULT_NO_KEY', `vault at ${store.location} is encrypted: give a passphrase (BOVEDA_PASSPHRASE, --passphrase-file) or a key file (--key-file)`);
    }
    const slots = await readKeySlots(store, config.vaultId);
    for (const secret of secrets) {
      for (const { record } of slots) {
        if (record.kind !== secret.kind) continue;
        const masterKey = await tryUnwrap(record, config.vaultId, secret);
        if (!masterKey) continue;
        const keys = deriveVaultKeys(masterKey, Buffer.from(config.vaultId, 'hex'));
        const expected = hmacSha256(keys.configMac, canonicalConfigBytes(config));
        if (!timingSafeEqual(expected, Buffer.from(config.mac, 'hex'))) {
          throw new BovedaError('VAULT_CONFIG_INVALID', `the config object of vault at ${store.location} was altered: its mac does not match`);
        }
        return new Vault(store, config, masterKey, record.id, options);
      }
    }
    // No slot of this vault id opens. A slot of another id that does is either left by an
    // interrupted init (ignored) or this vault's own, under a config whose vaultId was altered:
    // then its master key authenticates the config with the slot's vault id put back.
    const allSlots = await readKeySlots(store);
    for (const secret of secrets) {
      for (const { record } of allSlots) {
        if (record.kind !== secret.kind || record.vaultId === config.vaultId) continue;
        const masterKey = await tryUnwrap(record, record.vaultId, secret);
        if (!masterKey) continue;
        const keys = deriveVaultKeys(masterKey, Buffer.from(record.vaultId, 'hex'));
        const expected = hmacSha256(keys.configMac, canonicalConfigBytes({ ...config, vaultId: record.vaultId }));
        if (timingSafeEqual(expected, Buffer.from(config.mac, 'hex'))) {
          throw new BovedaError('VAULT_CONFIG_INVALID', `the config object of vault at ${store.location} was altered: its vaultId is ${config.vaultId}, its key slot ${record.id} and mac belong to vault ${record.vaultId}`);
        }
      }
    }
    const kinds = [...new Set(secrets.map((secret) => (secret.kind === 'passphrase' ? 'passphrase' : 'key file')))].join(' or ');
    throw new BovedaError('VAULT_WRONG_KEY', `no key slot of vault at ${store.location} opens with the given ${kinds} (${slots.length} slot${slots.length === 1 ? '' : 's'} tried)`);
  }

  /** Hashing, compression and encryption on worker threads, created on first use. */
  get pool(): CryptoPool {
    this.#pool ??= new CryptoPool({ keys: this.keys, compressionLevel: this.config.compression.level }, this.#threads);
    return this.#pool;
  }

  /** Main-thread crypto for map pages (few and small, not worth a round trip to a worker). */
  get pageCrypto(): BlockCrypto {
    this.#pageCrypto ??= new BlockCrypto(this.keys, this.config.compression.level);
    return this.#pageCrypto;
  }

  /** The vault's secrets key (KEK) for disk-encryption secrets, created on first use (vault-secrets.ts). */
  secretsKey(): Promise<Uint8Array> {
    this.#secretsKey ??= ensureSecretsKey(this.store, this.config.vaultId, this.#secretsWrapKey());
    // A failure (storage error, damaged key object) is not cached: the next call tries again.
    this.#secretsKey.catch(() => (this.#secretsKey = undefined));
    return this.#secretsKey;
  }

  /**
   * The KEK if the vault has one, without creating it (for read-only users such as verify). Once
   * found it is kept (the key object is create-only, never replaced); "none yet" is not kept.
   */
  async existingSecretsKey(): Promise<Uint8Array | undefined> {
    if (this.#secretsKey) return this.#secretsKey;
    const key = await readSecretsKey(this.store, this.config.vaultId, this.#secretsWrapKey());
    if (key) this.#secretsKey ??= Promise.resolve(key);
    return key;
  }

  #secretsWrapKey(): Uint8Array {
    return deriveSecretsWrapKey(this.#masterKey, Buffer.from(this.config.vaultId, 'hex'));
  }

  async listKeySlots(): Promise<KeySlotSummary[]> {
    const slots = await readKeySlots(this.store, this.config.vaultId);
    return slots.map(({ record }) => ({ id: record.id, kind: record.kind, label: record.label, createdAt: record.createdAt }));
  }

  async addKeySlot(secret: SlotSecret, label: string, scrypt: ScryptParams = defaultScryptParams): Promise<KeySlotSummary> {
    const { record } = await writeKeySlot(this.store, this.config.vaultId, this.#masterKey, secret, label, scrypt, this.clock);
    return { id: record.id, kind: record.kind, label: record.label, createdAt: record.createdAt };
  }

  /** Removes a slot; refuses to remove the last one. Holds the exclusive lock so two removals cannot race to zero slots. */
  async removeKeySlot(id: string): Promise<void> {
    const lock = await VaultLock.acquire(this.store, { exclusive: true, purpose: 'a key slot removal' }, this.clock);
    try {
      const slots = await readKeySlots(this.store, this.config.vaultId);
      const target = slots.find(({ record }) => record.id === id);
      if (!target) throw new BovedaError('VAULT_KEY_SLOT_NOT_FOUND', `vault at ${this.store.location} has no key slot "${id}"`);
      if (slots.length === 1) {
        throw new BovedaError('VAULT_LAST_KEY_SLOT', `key slot "${id}" is the last one of vault at ${this.store.location}; add another before removing it`);
      }
      await this.store.delete(target.key);
    } finally {
      await lock.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
    await this.store.close?.();
  }
}

async function tryUnwrap(record: KeySlotRecord, vaultId: string, secret: SlotSecret): Promise<Uint8Array | undefined> {
  const params = record.kdf.algorithm === 'scrypt' ? record.kdf : defaultScryptParams;
  const slotKey = await deriveSlotKey(secret, Buffer.from(record.salt, 'base64'), params);
  return unwrapMasterKey(slotKey, Buffer.from(record.wrappedKey, 'base64'), keySlotAad(vaultId, record.id));
}

/** The readable slots of vault `vaultId`, oldest first; of any vault when `vaultId` is not given. */
async function readKeySlots(store: BlobStore, vaultId?: string): Promise<Array<{ key: string; record: KeySlotRecord }>> {
  const slots: Array<{ key: string; record: KeySlotRecord }> = [];
  for await (const { key } of store.list(Paths.keys)) {
    let record: KeySlotRecord;
    try {
      record = decodeKeySlot(await store.get(key), `key slot ${key}`);
    } catch (error) {
      if (error instanceof FormatError) continue; // unreadable slot: cannot open anything, other slots may
      throw error;
    }
    if ((vaultId === undefined || record.vaultId === vaultId) && key === `${Paths.keys}${record.id}`) slots.push({ key, record });
  }
  return slots.sort((a, b) => a.record.createdAt.localeCompare(b.record.createdAt));
}

async function writeKeySlot(
  store: BlobStore, vaultId: string, masterKey: Uint8Array, secret: SlotSecret, label: string, scrypt: ScryptParams, clock: Clock,
): Promise<{ key: string; id: string; record: KeySlotRecord }> {
  if (secret.kind === 'passphrase' && secret.passphrase.length === 0) {
    throw new BovedaError('INVALID_ARGUMENT', 'the passphrase is empty');
  }
  const id = randomBytes(4).toString('hex');
  const salt = newSalt();
  const slotKey = await deriveSlotKey(secret, salt, scrypt);
  const record: KeySlotRecord = {
    version: 1,
    id,
    vaultId,
    kind: secret.kind,
    label,
    createdAt: clock.now().toISOString(),
    kdf: secret.kind === 'passphrase' ? { algorithm: 'scrypt', ...scrypt } : { algorithm: 'hkdf-sha256' },
    salt: Buffer.from(salt).toString('base64'),
    wrappedKey: Buffer.from(wrapMasterKey(slotKey, masterKey, keySlotAad(vaultId, id))).toString('base64'),
  };
  const key = `${Paths.keys}${id}`;
  await store.put(key, encodeKeySlot(record));
  return { key, id, record };
}
