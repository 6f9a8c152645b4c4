import type { BenchCase, Series } from '../lib/series.js';
import { caseNotes, othersCell } from '../lib/report.js';
import type { Table } from '../lib/table.js';
import { KiB, MiB, mbps, parseBytes, size } from '../lib/units.js';
import { runPutGet, type PutGetParams } from './put-get.js';

/**
 * Memory against disk size: the same put/get as the throughput series, on streams of two sizes
 * (512 MiB and 2 GiB by default), so a peak that grew with the disk would show. The only state
 * that should grow is the block index (about 60 bytes per stored block), reported alongside.
 * Options: --set memory.sizes=512M,2G,8G --set memory.blocks=16K,64K.
 */
export const memorySeries: Series<PutGetParams> = {
  name: 'memory',
  description: 'peak RSS of put and get for streams of 512 MiB and 2 GiB',
  byDefault: true,

  cases(ctx) {
    const sizes = (ctx.options['memory.sizes'] ?? (ctx.profile === 'quick' ? '32M,96M' : '512M,2G')).split(',').map(parseBytes);
    const blocks = (ctx.options['memory.blocks'] ?? '16K,64K').split(',').map(parseBytes);
    const cases: Array<BenchCase<PutGetParams>> = [];
    for (const blockSize of blocks) {
      for (const bytes of sizes) {
        cases.push({
          id: `random-${blockSize / KiB}k-${bytes / MiB}m`,
          label: `memory: ${size(bytes)} stream, ${size(blockSize)} blocks, ${ctx.allThreads} workers`,
          params: { data: 'random', blockSize, threads: ctx.allThreads, bytes, poolBytes: 8 * MiB, verify: true },
        });
      }
    }
    return cases;
  },

  run: runPutGet,

  report(results) {
    const rows = results.map((result) => {
      const p = result.params;
      const m = result.metrics;
      const head = [size(p.bytes), size(p.blockSize)];
      if (!result.ok) return [...head, 'FAILED', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
      const phases = result.memory?.phases;
      return [
        ...head,
        mbps(p.bytes, Number(m.putSeconds)),
        mbps(p.bytes, Number(m.getSeconds)),
        size(phases?.put?.startRss ?? 0),
        size(phases?.put?.peakRss ?? 0),
        size(phases?.get?.peakRss ?? 0),
        size(result.memory?.maxRss ?? 0),
        size(Math.max(phases?.put?.peakHeapUsed ?? 0, phases?.get?.peakHeapUsed ?? 0)),
        size(Number(m.settledRssAfterPut)),
        size(Number(m.settledHeapAfterPut)),
        String(m.indexEntries),
        size(Number(m.indexAllocated)),
        othersCell(result, ['put', 'get']),
      ];
    });
    const notes: string[] = [];
    for (const blockSize of [...new Set(results.map((r) => r.params.blockSize))]) {
      const ok = results.filter((r) => r.ok && r.params.blockSize === blockSize).sort((a, b) => a.params.bytes - b.params.bytes);
      if (ok.length < 2) continue;
      const small = ok[0]!;
      const large = ok[ok.length - 1]!;
      const growth = (large.memory?.maxRss ?? 0) - (small.memory?.maxRss ?? 0);
      const indexGrowth = Number(large.metrics.indexAllocated) - Number(small.metrics.indexAllocated);
      notes.push(`${size(blockSize)} blocks: ${(large.params.bytes / small.params.bytes).toFixed(0)}× the data → maxRSS ${growth >= 0 ? '+' : '−'}${size(Math.abs(growth))}`
        + ` (block index +${size(indexGrowth)}).`);
    }
    const table: Table = {
      title: 'Peak memory against stream size — random data, all workers, each case a fresh process',
      columns: [
        { header: 'stream', align: 'left' }, { header: 'block' }, { header: 'put MB/s' }, { header: 'get MB/s' },
        { header: 'RSS before put' }, { header: 'peak RSS put' }, { header: 'peak RSS get' }, { header: 'maxRSS' },
        { header: 'peak JS heap' }, { header: 'RSS after put+GC' }, { header: 'heap after put+GC' },
        { header: 'index entries' }, { header: 'index alloc' }, { header: 'others' },
      ],
      rows,
      notes: [
        ...notes,
        ...(results.some((r) => r.params.bytes < 256 * MiB)
          ? ['Streams under 256 MiB do not reach steady state (up to 3 packs of 32 MiB in flight plus the one filling): compare default-size runs.']
          : []),
        'RSS before put includes Node, the code and the 8 MiB source pattern; worker threads start during put.',
        'after put+GC = after the commit and a forced full collection: retained, not garbage. index alloc = what BlockIndex allocates'
          + ' for that many entries (57–114 B each: its arrays double), the one structure that grows with the vault.',
        'others = CPU cores busy with other processes during put/get.',
        ...caseNotes(results, ['put', 'get']),
      ],
    };
    return [table];
  },
};
