import { ADDRESS_BYTES, ZERO_ADDRESS, encodeMapPage, type BlockMapRoot } from '../format/index.js';
import { fromHex, toHex } from './block-index.js';

/**
 * The block map of a disk as a tree of pages (see format/map-page.ts): leaves list block
 * addresses, inner pages list child page addresses, a zero address stands for an all-zero block or
 * subtree. Pages are content-addressed, so a point that changed few blocks stores only the pages
 * on the paths to them; everything else is shared with earlier points.
 */

/** Page counts per level, leaves first; empty for an empty disk. */
export function levelCounts(blockCount: number, fanout: number): number[] {
  const counts: number[] = [];
  let below = blockCount;
  while (below > 0) {
    const pages = Math.ceil(below / fanout);
    counts.push(pages);
    if (pages === 1) break;
    below = pages;
  }
  return counts;
}

function entriesIn(counts: readonly number[], blockCount: number, fanout: number, level: number, page: number): number {
  const below = level === 0 ? blockCount : counts[level - 1]!;
  return Math.min(fanout, below - page * fanout);
}

export function isZero(address: Uint8Array): boolean {
  for (let i = 0; i < address.length; i++) if (address[i] !== 0) return false;
  return true;
}

/** Loads a page's entries (count × 32 bytes), checking its level and count. */
export type PageLoader = (address: Uint8Array, level: number, count: number) => Promise<Uint8Array>;

export class BlockMapReader {
  readonly root: BlockMapRoot;
  readonly #load: PageLoader;
  readonly #counts: number[];

  constructor(root: BlockMapRoot, load: PageLoader) {
    this.root = root;
    this.#load = load;
    this.#counts = levelCounts(root.blockCount, root.fanout);
  }

  get leafCount(): number {
    return this.#counts[0] ?? 0;
  }

  entriesInLeaf(page: number): number {
    return entriesIn(this.#counts, this.root.blockCount, this.root.fanout, 0, page);
  }

  /** Address of leaf page `page` (zero address for an all-zero leaf). */
  async leafAddress(page: number): Promise<Uint8Array> {
    let address = fromHex(this.root.root);
    for (let level = this.#counts.length - 1; level > 0; level--) {
      if (isZero(address)) return ZERO_ADDRESS;
      const span = this.root.fanout ** level;
      const pageAtLevel = Math.floor(page / span);
      const entries = await this.#load(address, level, entriesIn(this.#counts, this.root.blockCount, this.root.fanout, level, pageAtLevel));
      const slot = Math.floor(page / this.root.fanout ** (level - 1)) % this.root.fanout;
      address = entries.subarray(slot * ADDRESS_BYTES, (slot + 1) * ADDRESS_BYTES);
    }
    return address;
  }

  /** Block addresses of leaf page `page` (count × 32 bytes; zeros for an all-zero leaf). */
  async leafEntries(page: number): Promise<Uint8Array> {
    const count = this.entriesInLeaf(page);
    const address = await this.leafAddress(page);
    if (isZero(address)) return new Uint8Array(count * ADDRESS_BYTES);
    return this.#load(address, 0, count);
  }

  /** Every leaf in order with its block addresses. */
  async *leaves(): AsyncIterableIterator<{ page: number; firstBlock: number; entries: Uint8Array }> {
    for (let page = 0; page < this.leafCount; page++) {
      yield { page, firstBlock: page * this.root.fanout, entries: await this.leafEntries(page) };
    }
  }

  /**
   * Walks the tree depth-first, calling `visitPage` for every non-zero page (with its level) and
   * `visitBlock` for every non-zero block address. When visitPage returns false the subtree is
   * skipped: a page seen before in another point holds the same addresses.
   */
  async walk(visitPage: (address: Uint8Array, level: number) => boolean, visitBlock: (address: Uint8Array, index: number) => void): Promise<void> {
    if (this.#counts.length === 0) return;
    const visit = async (address: Uint8Array, level: number, page: number): Promise<void> => {
      if (isZero(address) || !visitPage(address, level)) return;
      const entries = await this.#load(address, level, entriesIn(this.#counts, this.root.blockCount, this.root.fanout, level, page));
      const count = entries.length / ADDRESS_BYTES;
      for (let slot = 0; slot < count; slot++) {
        const child = entries.subarray(slot * ADDRESS_BYTES, (slot + 1) * ADDRESS_BYTES);
        if (level === 0) {
          if (!isZero(child)) visitBlock(child, page * this.root.fanout + slot);
        } else {
          await visit(child, level - 1, page * this.root.fanout + slot);
        }
      }
    };
    await visit(fromHex(this.root.root), this.#counts.length - 1, 0);
  }
}

/** Stores one encoded page (if new) and returns its address. */
export type PageStorer = (page: Uint8Array) => Promise<Uint8Array>;

/**
 * Builds the map of a new point. Block addresses are given in increasing index order with set();
 * indexes never set keep the parent point's address (zero without a parent, or past the parent's
 * end). A leaf with nothing set whose coverage equals the parent's is taken over by address,
 * without being read: the cost of a point follows what changed, not the disk size.
 */
export class BlockMapBuilder {
  readonly #fanout: number;
  readonly #blockCount: number;
  readonly #counts: number[];
  readonly #store: PageStorer;
  readonly #parent: BlockMapReader | undefined;
  /** Per level: entries collected for the page being filled. */
  readonly #levels: Array<{ page: number; entries: Uint8Array; filled: number }>;
  readonly #setInLeaf: Uint8Array;
  #leaf = 0;
  #anySetInLeaf = false;
  #lastIndex = -1;
  #rootAddress: Uint8Array | undefined;

  constructor(options: { fanout: number; blockCount: number; store: PageStorer; parent?: BlockMapReader }) {
    this.#fanout = options.fanout;
    this.#blockCount = options.blockCount;
    this.#counts = levelCounts(options.blockCount, options.fanout);
    this.#store = options.store;
    this.#parent = options.parent;
    this.#levels = this.#counts.map(() => ({ page: 0, entries: new Uint8Array(options.fanout * ADDRESS_BYTES), filled: 0 }));
    this.#setInLeaf = new Uint8Array(options.fanout);
  }

  async set(index: number, address: Uint8Array): Promise<void> {
    return this.setRun(index, address.subarray(0, ADDRESS_BYTES));
  }

  /** set() of `addresses.length / 32` consecutive blocks from `first`. */
  async setRun(first: number, addresses: Uint8Array): Promise<void> {
    const count = addresses.length / ADDRESS_BYTES;
    if (count === 0) return;
    const last = first + count - 1;
    if (!(first > this.#lastIndex && last < this.#blockCount)) {
      const which = count === 1 ? `index ${first} is` : `indexes ${first}…${last} are`;
      throw new RangeError(`block map: ${which} out of order or past the disk's ${this.#blockCount} blocks`);
    }
    let k = 0;
    while (k < count) {
      const index = first + k;
      const leaf = Math.floor(index / this.#fanout);
      while (this.#leaf < leaf) await this.#completeLeaf();
      const slot = index % this.#fanout;
      const n = Math.min(count - k, this.#fanout - slot);
      this.#levels[0]!.entries.set(addresses.subarray(k * ADDRESS_BYTES, (k + n) * ADDRESS_BYTES), slot * ADDRESS_BYTES);
      this.#setInLeaf.fill(1, slot, slot + n);
      this.#anySetInLeaf = true;
      k += n;
    }
    this.#lastIndex = last;
  }

  async finish(): Promise<BlockMapRoot> {
    const leaves = this.#counts[0] ?? 0;
    while (this.#leaf < leaves) await this.#completeLeaf();
    const root = this.#rootAddress ?? ZERO_ADDRESS;
    return { root: toHex(root), depth: this.#counts.length, fanout: this.#fanout, blockCount: this.#blockCount };
  }

  async #completeLeaf(): Promise<void> {
    const page = this.#leaf;
    const count = entriesIn(this.#counts, this.#blockCount, this.#fanout, 0, page);
    const level = this.#levels[0]!;
    let address: Uint8Array;
    const parent = this.#parent;
    const parentHasLeaf = parent !== undefined && page < parent.leafCount;
    if (!this.#anySetInLeaf && parentHasLeaf && parent.entriesInLeaf(page) === count) {
      address = await parent.leafAddress(page);
    } else {
      if (parentHasLeaf) {
        const inherited = await parent.leafEntries(page);
        const overlap = Math.min(count, inherited.length / ADDRESS_BYTES);
        for (let slot = 0; slot < overlap; slot++) {
          if (!this.#setInLeaf[slot]) level.entries.set(inherited.subarray(slot * ADDRESS_BYTES, (slot + 1) * ADDRESS_BYTES), slot * ADDRESS_BYTES);
        }
      }
      address = await this.#storePage(0, level.entries, count);
    }
    level.entries.fill(0);
    this.#setInLeaf.fill(0);
    this.#anySetInLeaf = false;
    this.#leaf++;
    await this.#push(1, address);
  }

  async #storePage(level: number, entries: Uint8Array, count: number): Promise<Uint8Array> {
    const used = entries.subarray(0, count * ADDRESS_BYTES);
    if (isZero(used)) return ZERO_ADDRESS;
    return this.#store(encodeMapPage(level, used, count));
  }

  /** Hands a completed child page address to `level`, completing that level's page when full. */
  async #push(level: number, address: Uint8Array): Promise<void> {
    if (level >= this.#counts.length) {
      this.#rootAddress = address.slice();
      return;
    }
    const state = this.#levels[level]!;
    state.entries.set(address, state.filled * ADDRESS_BYTES);
    state.filled++;
    const count = entriesIn(this.#counts, this.#blockCount, this.#fanout, level, state.page);
    if (state.filled === count) {
      const pageAddress = await this.#storePage(level, state.entries, count);
      state.entries.fill(0);
      state.filled = 0;
      state.page++;
      await this.#push(level + 1, pageAddress);
    }
  }
}
