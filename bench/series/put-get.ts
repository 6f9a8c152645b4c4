import { join } from 'node:path';
import { PatternDisk, randomPool, usrCorpusPool } from '../lib/sources.js';
import type { BenchContext, CaseContext, Metrics } from '../lib/series.js';
import { settledMemory } from '../lib/memory.js';
import { INDEX_ENTRY_BYTES, backupDisk, createVault, indexAllocatedBytes, openVault, readBackDisk, storeBytes } from '../lib/vault.js';
import { MiB } from '../lib/units.js';

/**
 * The case both block-level series run: a synthetic disk of `bytes` is stored through writeDisk
 * (VaultWriter.putBlocks in batches, overlapped; then the point is committed, so packs and index
 * are durable) into a fresh LocalStore vault, then read back through VaultReader.readDisk and
 * compared with the source, byte for byte.
 */
export type DataKind = 'random' | 'compressible';

export interface PutGetParams {
  data: DataKind;
  blockSize: number;
  /** Crypto worker threads. */
  threads: number;
  bytes: number;
  /** Bytes of the pool the synthetic disk repeats (held in memory for the whole case). */
  poolBytes: number;
  verify: boolean;
}

/** Builds the compressible corpus once per run, so every case and process reads the same bytes. */
export async function prepareCorpus(ctx: BenchContext, poolBytes: number): Promise<void> {
  const { description } = await usrCorpusPool(poolBytes, join(ctx.workDir, 'fixtures'));
  ctx.log(`compressible data: ${description}`);
}

export async function runPutGet(params: PutGetParams, ctx: CaseContext): Promise<Metrics> {
  ctx.memory.phase('setup');
  const pool = params.data === 'random' ? randomPool(params.poolBytes) : (await usrCorpusPool(params.poolBytes, join(ctx.workDir, 'fixtures'))).pool;
  const source = new PatternDisk('disk0', params.bytes, pool);
  const vaultDir = join(ctx.caseDir, 'vault');
  await createVault(vaultDir, { blockSize: params.blockSize });
  const vault = await openVault(vaultDir, params.threads);
  try {
    ctx.memory.phase('put');
    const put = await backupDisk(vault, source);
    const afterPut = settledMemory();
    ctx.memory.phase('get');
    const expected = new Uint8Array(params.blockSize);
    let mismatches = 0;
    const get = await readBackDisk(vault, put.point, source.name, params.verify
      ? (index, data) => {
        const want = source.fill(expected.subarray(0, data.length), index * params.blockSize);
        if (Buffer.compare(want, data) !== 0) mismatches++;
      }
      : undefined);
    ctx.memory.phase('measure');
    if (params.verify && mismatches > 0) throw new Error(`${mismatches} blocks read back differ from what was stored`);
    if (get.bytes !== params.bytes) throw new Error(`read back ${get.bytes} bytes of ${params.bytes}`);
    const stored = await storeBytes(vault.store);
    const entries = get.indexEntries;
    return {
      bytes: params.bytes,
      putSeconds: put.seconds,
      putCpuSeconds: put.cpuSeconds,
      getSeconds: get.seconds,
      getCpuSeconds: get.cpuSeconds,
      getOpenSeconds: get.openSeconds,
      blockPlainBytes: put.disk.stats.newBytes,
      blockStoredBytes: put.disk.stats.newStoredBytes,
      storedBytes: stored.total,
      packCount: stored.packCount,
      indexEntries: entries,
      indexMemoryEstimate: entries * INDEX_ENTRY_BYTES,
      indexAllocated: indexAllocatedBytes(entries),
      settledRssAfterPut: afterPut.rss,
      settledHeapAfterPut: afterPut.heapUsed,
      poolBytes: params.poolBytes,
      verified: params.verify,
    };
  } finally {
    await vault.close();
  }
}

export function defaultPoolBytes(ctx: BenchContext): number {
  return ctx.profile === 'quick' ? 8 * MiB : 32 * MiB;
}
