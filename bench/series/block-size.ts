import * as fs from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PointManifest } from '../../src/format/index.js';
import type { Vault } from '../../src/repository/index.js';
import { REFERENCE_IMAGE_PATH, churn1Percent, churn5Percent, copySparse, ensureReferenceImage, type ChurnResult } from '../reference-image.js';
import type { BenchCase, CaseResult, Metrics, Series } from '../lib/series.js';
import { FileDisk } from '../lib/sources.js';
import { caseNotes, othersCell } from '../lib/report.js';
import type { Table } from '../lib/table.js';
import { KiB, MiB, mbps, parseBytes, seconds, size } from '../lib/units.js';
import { INDEX_ENTRY_BYTES, backupDisk, createVault, indexBytes, openVault, readBackDisk, storeBytes, type IndexBytes, type StoreBytes } from '../lib/vault.js';

/**
 * Block size study on the reference image (bench/reference-image.ts). Per block size, in its own
 * process: a sparse copy of the image, a full backup, 1% churn (scattered 4 KiB writes) and an
 * incremental backup, 5% churn (1 MiB writes) and another incremental, then a read-back of the
 * last point. Each stage records time, the bytes it added to the vault by object kind (data
 * blocks and map pages from the index's blob kinds, index files, manifests) and the index size.
 * Options: --set block-size.sizes=4K,16K,64K,256K,1M --set block-size.image=PATH.
 */
export interface BlockSizeParams {
  blockSize: number;
  image: string;
  threads: number;
  /** Every n-th block read back is compared with the churned image. */
  verifyEvery: number;
}

const STAGES = ['full', 'churn1', 'churn5'] as const;
type Stage = (typeof STAGES)[number];

export const QUICK_IMAGE = { path: 'bench-work/reference/boveda-ref-quick.img', imageBytes: 512 * MiB, dataBytes: 280_000_000 };

function imageOptions(ctx: { profile: string; options: Record<string, string> }) {
  if (ctx.options['block-size.image']) return { path: resolve(ctx.options['block-size.image']) };
  return ctx.profile === 'quick' ? { ...QUICK_IMAGE, path: resolve(QUICK_IMAGE.path) } : { path: resolve(REFERENCE_IMAGE_PATH) };
}

export const blockSizeSeries: Series<BlockSizeParams> = {
  name: 'block-size',
  description: 'full and incremental backups of the reference image at 4 KiB … 1 MiB blocks (run by bench/block-size-study.ts)',
  byDefault: false,

  async prepare(ctx) {
    await ensureReferenceImage({ ...imageOptions(ctx), log: ctx.log });
  },

  cases(ctx) {
    const sizes = (ctx.options['block-size.sizes'] ?? '4K,16K,64K,256K,1M').split(',').map(parseBytes);
    const image = imageOptions(ctx).path;
    return sizes.map((blockSize): BenchCase<BlockSizeParams> => ({
      id: `${blockSize / KiB}k`,
      label: `block size ${size(blockSize)}: full, +1% churn, +5% churn, read-back`,
      params: { blockSize, image, threads: ctx.allThreads, verifyEvery: 64 },
    }));
  },

  async run(params, ctx) {
    const disk = join(ctx.caseDir, 'disk.img');
    const vaultDir = join(ctx.caseDir, 'vault');
    ctx.memory.phase('copy');
    await copySparse(params.image, disk);
    await createVault(vaultDir, { blockSize: params.blockSize });
    const vault = await openVault(vaultDir, params.threads);
    const metrics: Metrics = { blockSize: params.blockSize };
    try {
      let before = { store: await storeBytes(vault.store), index: await indexBytes(vault) };
      let parent: PointManifest | undefined;
      for (const stage of STAGES) {
        let churn: ChurnResult | undefined;
        if (stage === 'churn1') churn = await churn1Percent(disk);
        if (stage === 'churn5') churn = await churn5Percent(disk);
        ctx.memory.phase(stage);
        const source = await FileDisk.open(disk);
        try {
          const result = await backupDisk(vault, source, { parent });
          parent = result.point;
          const after = { store: await storeBytes(vault.store), index: result.index };
          Object.assign(metrics, stageMetrics(stage, result.seconds, result.cpuSeconds, result.point, before, after, churn));
          ctx.log(`${size(params.blockSize)} ${stage}: ${result.seconds.toFixed(1)} s, +${size(after.store.total - before.store.total)}`);
          before = after;
        } finally {
          await source.close();
        }
      }
      ctx.memory.phase('restore');
      const restore = await readBack(vault, parent!, disk, params);
      Object.assign(metrics, restore, {
        imageBytes: (await fs.stat(disk)).size,
        indexEntries: before.index.entries,
        indexMemoryEstimate: before.index.entries * INDEX_ENTRY_BYTES,
        totalStoredBytes: before.store.total,
      });
      return metrics;
    } finally {
      await vault.close();
      await fs.rm(disk, { force: true });
    }
  },

  report(results) {
    return blockSizeTables(results);
  },
};

function stageMetrics(
  stage: Stage, wall: number, cpu: number, point: PointManifest,
  before: { store: StoreBytes; index: IndexBytes }, after: { store: StoreBytes; index: IndexBytes }, churn: ChurnResult | undefined,
): Metrics {
  const stats = point.disks[0]!.stats;
  return {
    [`${stage}.seconds`]: wall,
    [`${stage}.cpuSeconds`]: cpu,
    [`${stage}.storedBytes`]: after.store.total - before.store.total,
    [`${stage}.blockBytes`]: after.index.blockStoredBytes - before.index.blockStoredBytes,
    [`${stage}.blockPlainBytes`]: after.index.blockRawBytes - before.index.blockRawBytes,
    [`${stage}.pageBytes`]: after.index.pageStoredBytes - before.index.pageStoredBytes,
    [`${stage}.pages`]: after.index.pages - before.index.pages,
    [`${stage}.indexFileBytes`]: after.store.index - before.store.index,
    [`${stage}.manifestBytes`]: after.store.points - before.store.points,
    [`${stage}.packBytes`]: after.store.packs - before.store.packs,
    [`${stage}.newEntries`]: after.index.entries - before.index.entries,
    [`${stage}.changedBlocks`]: stats.changedBlocks,
    [`${stage}.newBlocks`]: stats.newBlocks,
    [`${stage}.zeroBlocks`]: stats.zeroBlocks,
    [`${stage}.churnBytes`]: churn?.bytesWritten ?? 0,
  };
}

async function readBack(vault: Vault, point: PointManifest, diskPath: string, params: BlockSizeParams): Promise<Metrics> {
  const handle = await fs.open(diskPath, 'r');
  try {
    const checks: Array<{ index: number; data: Uint8Array }> = [];
    const result = await readBackDisk(vault, point, 'disk0', (index, data) => {
      if (index % params.verifyEvery === 0) checks.push({ index, data: data.slice() });
    });
    let mismatches = 0;
    for (const { index, data } of checks) {
      const want = new Uint8Array(data.length);
      await handle.read(want, 0, data.length, index * params.blockSize);
      if (Buffer.compare(want, data) !== 0) mismatches++;
    }
    if (mismatches > 0) throw new Error(`${mismatches} of ${checks.length} sampled blocks read back differ from the image`);
    return { 'restore.seconds': result.seconds, 'restore.cpuSeconds': result.cpuSeconds, 'restore.bytes': result.bytes, 'restore.blocks': result.blocks, 'restore.checked': checks.length };
  } finally {
    await handle.close();
  }
}

/** The study's tables (also rendered as markdown for docs/block-size.md). */
export function blockSizeTables(results: Array<CaseResult<BlockSizeParams>>): Table[] {
  const ok = results.filter((result) => result.ok);
  const n = (result: CaseResult<BlockSizeParams>, key: string) => Number(result.metrics[key] ?? 0);
  const imageBytes = ok[0] ? n(ok[0], 'imageBytes') : 0;
  const churn1 = ok[0] ? n(ok[0], 'churn1.churnBytes') : 0;
  const churn5 = ok[0] ? n(ok[0], 'churn5.churnBytes') : 0;

  const storage: Table = {
    title: `Stored bytes per backup (vault growth: packs + index files + manifests) — ${size(imageBytes)} image`,
    columns: [
      { header: 'block', align: 'left' }, { header: 'full' }, { header: '+1% churn' }, { header: '×written' },
      { header: '+5% churn' }, { header: '×written' }, { header: 'vault after 3' }, { header: 'changed blocks 1% / 5%' },
    ],
    rows: [
      ...ok.map((r) => [
        size(r.params.blockSize),
        size(n(r, 'full.storedBytes')),
        size(n(r, 'churn1.storedBytes')),
        (n(r, 'churn1.storedBytes') / churn1).toFixed(2),
        size(n(r, 'churn5.storedBytes')),
        (n(r, 'churn5.storedBytes') / churn5).toFixed(2),
        size(n(r, 'totalStoredBytes')),
        `${n(r, 'churn1.changedBlocks')} / ${n(r, 'churn5.changedBlocks')}`,
      ]),
    ],
    notes: [...caseNotes(results, []), `1% churn wrote ${size(churn1)} (scattered 4 KiB), 5% churn ${size(churn5)} (1 MiB extents); ×written = stored ÷ bytes the churn wrote.`],
  };

  const metadata: Table = {
    title: 'Metadata: map pages (from the index blob kinds), index files, manifests; in-memory index',
    columns: [
      { header: 'block', align: 'left' }, { header: 'pages full' }, { header: 'pages +1%' }, { header: 'pages +5%' },
      { header: 'index files (3)' }, { header: 'manifests (3)' }, { header: 'metadata % of vault' },
      { header: 'index entries' }, { header: 'index RAM ≈60 B' }, { header: 'RAM per TiB unique' }, { header: 'maxRSS' },
    ],
    rows: ok.map((r) => {
      const pages = STAGES.reduce((sum, stage) => sum + n(r, `${stage}.pageBytes`), 0);
      const indexFiles = STAGES.reduce((sum, stage) => sum + n(r, `${stage}.indexFileBytes`), 0);
      const manifests = STAGES.reduce((sum, stage) => sum + n(r, `${stage}.manifestBytes`), 0);
      const total = n(r, 'totalStoredBytes');
      return [
        size(r.params.blockSize),
        size(n(r, 'full.pageBytes')),
        size(n(r, 'churn1.pageBytes')),
        size(n(r, 'churn5.pageBytes')),
        size(indexFiles),
        size(manifests),
        `${(((pages + indexFiles + manifests) / total) * 100).toFixed(2)}%`,
        String(n(r, 'indexEntries')),
        size(n(r, 'indexMemoryEstimate')),
        size((2 ** 40 / r.params.blockSize) * INDEX_ENTRY_BYTES),
        size(r.memory?.maxRss ?? 0),
      ];
    }),
    notes: ['RAM per TiB unique = 60 B × (1 TiB ÷ block size): the index of a vault holding 1 TiB of distinct blocks.'],
  };

  const speed: Table = {
    title: 'Time (each backup reads and hashes the whole image; MB/s = image bytes ÷ wall time)',
    columns: [
      { header: 'block', align: 'left' }, { header: 'full s' }, { header: 'full MB/s' }, { header: '+1% s' }, { header: '+5% s' },
      { header: 'incr MB/s' }, { header: 'read-back s' }, { header: 'read-back MB/s' }, { header: 'CPU full' }, { header: 'others' },
    ],
    rows: ok.map((r) => {
      const full = n(r, 'full.seconds');
      const c1 = n(r, 'churn1.seconds');
      const c5 = n(r, 'churn5.seconds');
      const restore = n(r, 'restore.seconds');
      return [
        size(r.params.blockSize),
        seconds(full),
        mbps(imageBytes, full),
        seconds(c1),
        seconds(c5),
        mbps(imageBytes, (c1 + c5) / 2),
        seconds(restore),
        mbps(n(r, 'restore.bytes'), restore),
        (n(r, 'full.cpuSeconds') / full).toFixed(2),
        othersCell(r, [...STAGES, 'restore']),
      ];
    }),
    notes: [...caseNotes(ok, [...STAGES, 'restore']), 'read-back = VaultReader.readDisk of the last point (non-zero blocks only; MB/s of those bytes), every 64th block checked against the image.',
      'others = CPU cores busy with other processes during the backups and the read-back (highest stage).'],
  };
  return [storage, metadata, speed];
}
