import { BovedaError } from '../core/index.js';
import { Paths, type IndexContent, type IndexedPack } from '../format/index.js';
import { throwIfAborted } from '../util/index.js';
import { BlockIndex } from './block-index.js';
import type { Vault } from './vault.js';
import { openIndexFile } from './vault-objects.js';

export interface IndexFileDamage {
  key: string;
  error: BovedaError;
}

/**
 * The vault's index, read from every index file: the block index (address → location), the
 * size of every indexed pack, and the index files that could not be read. A damaged index file
 * does not stop the load: its blocks are just unknown, and verify names the points that need them.
 */
export class VaultIndex {
  readonly blocks = new BlockIndex();
  readonly packSizes = new Map<string, number>();
  readonly files: string[] = [];
  /** Points recorded by index files (see format/index-layout.ts). */
  readonly recordedPoints = new Set<string>();
  readonly damaged: IndexFileDamage[] = [];

  static async load(vault: Vault, options: { signal?: AbortSignal; onPack?: (pack: IndexedPack, file: string) => void } = {}): Promise<VaultIndex> {
    const index = new VaultIndex();
    const keys: string[] = [];
    for await (const { key } of vault.store.list(Paths.index, options)) keys.push(key);
    keys.sort();
    for (const key of keys) {
      throwIfAborted(options.signal, 'loading the vault index');
      let content: IndexContent;
      try {
        content = openIndexFile(vault.keys, await vault.store.get(key, options), `index file ${key}`);
      } catch (error) {
        if (error instanceof BovedaError && error.code !== 'ABORTED' && error.code !== 'STORAGE_IO') {
          index.damaged.push({ key, error });
          continue;
        }
        throw error;
      }
      index.files.push(key);
      for (const pack of content.packs) index.addPack(pack, key, options.onPack);
      for (const pointId of content.points) index.recordedPoints.add(pointId);
    }
    return index;
  }

  addPack(pack: IndexedPack, file?: string, onPack?: (pack: IndexedPack, file: string) => void): void {
    this.packSizes.set(pack.packId, pack.size);
    for (const entry of pack.entries) this.blocks.add(entry.address, { packId: pack.packId, ...entry });
    if (file !== undefined) onPack?.(pack, file);
  }
}
