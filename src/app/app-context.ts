import type { Catalog } from '../catalog/index.js';
import type { Vault } from '../repository/index.js';
import type { Clock } from '../util/index.js';

/**
 * What the lifecycle use cases work on: the catalog of a data directory, its vault (opened on first
 * use, as opening costs a key derivation and worker threads), and the clock every decision and
 * record uses (the system clock, or `--now TIME` for what-if runs and tests).
 */
export interface AppContext {
  readonly catalog: Catalog;
  readonly clock: Clock;
  vault(): Promise<Vault>;
}

/** An AppContext whose vault is opened by `openVault` once, on first use; close() closes what was opened. */
export class LazyAppContext implements AppContext {
  readonly catalog: Catalog;
  readonly clock: Clock;
  readonly #openVault: () => Promise<Vault>;
  #vault: Promise<Vault> | undefined;

  constructor(catalog: Catalog, clock: Clock, openVault: () => Promise<Vault>) {
    this.catalog = catalog;
    this.clock = clock;
    this.#openVault = openVault;
  }

  vault(): Promise<Vault> {
    this.#vault ??= this.#openVault();
    // A failed open (wrong passphrase) is not cached: the next call tries again.
    this.#vault.catch(() => (this.#vault = undefined));
    return this.#vault;
  }

  /** Closes the vault if it was opened (idempotent); the catalog is the caller's. */
  async closeVault(): Promise<void> {
    const opened = this.#vault;
    this.#vault = undefined;
    if (opened) await (await opened.catch(() => undefined))?.close();
  }
}
