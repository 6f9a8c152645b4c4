import type { BenchCase, CaseResult, Series } from '../lib/series.js';
import { caseNotes, othersCell } from '../lib/report.js';
import type { Table } from '../lib/table.js';
import { GiB, KiB, MiB, mbps, parseBytes, ratio, size } from '../lib/units.js';
import { defaultPoolBytes, prepareCorpus, runPutGet, type DataKind, type PutGetParams } from './put-get.js';

/**
 * Put and get throughput of blocks — hashing, compression and encryption on the crypto worker
 * threads — for incompressible and compressible data, 16 and 64 KiB blocks, one worker vs one per
 * core. Options: --set throughput.bytes=2G, --set throughput.blocks=16K,64K,1M.
 */
export const throughputSeries: Series<PutGetParams> = {
  name: 'throughput',
  description: 'block put/get MB/s: random vs compressible data, 16/64 KiB blocks, 1 worker vs all cores',
  byDefault: true,

  async prepare(ctx) {
    await prepareCorpus(ctx, defaultPoolBytes(ctx));
  },

  cases(ctx) {
    const bytes = ctx.options['throughput.bytes'] ? parseBytes(ctx.options['throughput.bytes']) : ctx.profile === 'quick' ? 64 * MiB : 1 * GiB;
    const blocks = (ctx.options['throughput.blocks'] ?? '16K,64K').split(',').map(parseBytes);
    const threads = [...new Set([1, ctx.allThreads])];
    const cases: Array<BenchCase<PutGetParams>> = [];
    for (const data of ['random', 'compressible'] as DataKind[]) {
      for (const blockSize of blocks) {
        for (const workers of threads) {
          cases.push({
            id: `${data}-${blockSize / KiB}k-t${workers}`,
            label: `${data} ${size(blockSize)} blocks, ${workers} worker${workers === 1 ? '' : 's'}, ${size(bytes)}`,
            params: { data, blockSize, threads: workers, bytes, poolBytes: defaultPoolBytes(ctx), verify: true },
          });
        }
      }
    }
    return cases;
  },

  run: runPutGet,

  report(results, ctx) {
    const rows = results.map((result) => {
      const p = result.params;
      const m = result.metrics;
      const head = [p.data, size(p.blockSize), workersLabel(p.threads, ctx.allThreads)];
      if (!result.ok) return [...head, 'FAILED', '-', '-', '-', '-', '-', '-', '-', '-'];
      const bytes = Number(m.bytes);
      const put = Number(m.putSeconds);
      const get = Number(m.getSeconds);
      return [
        ...head,
        mbps(bytes, put),
        mbps(bytes, get),
        (Number(m.putCpuSeconds) / put).toFixed(2),
        (Number(m.getCpuSeconds) / get).toFixed(2),
        ratio(Number(m.blockStoredBytes) / Number(m.blockPlainBytes), 2),
        size(result.memory?.phases.put?.peakRss ?? 0),
        size(result.memory?.phases.get?.peakRss ?? 0),
        size(result.memory?.maxRss ?? 0),
        othersCell(result, ['put', 'get']),
      ];
    });
    const bytes = results[0]?.params.bytes ?? 0;
    const table: Table = {
      title: `Block put/get throughput — ${size(bytes)} per case, LocalStore vault, each case a fresh process`,
      columns: [
        { header: 'data', align: 'left' }, { header: 'block' }, { header: 'workers', align: 'left' },
        { header: 'put MB/s' }, { header: 'get MB/s' }, { header: 'put CPU' }, { header: 'get CPU' },
        { header: 'stored/plain' }, { header: 'peak RSS put' }, { header: 'peak RSS get' }, { header: 'maxRSS' },
        { header: 'others' },
      ],
      rows,
      notes: [
        'put = writeDisk → VaultWriter.putBlocks (hash, dedup check, compress+encrypt on workers, packs) + commitPoint (durable packs, index, manifest).',
        'get = VaultReader.readDisk of the whole disk (decrypt and decompress on workers; no re-hash, the AEAD authenticates), every block compared with the source.',
        'MB/s = 10^6 plaintext bytes per second. CPU = process CPU seconds (all threads) per wall second; the machine has '
          + `${ctx.allThreads} core${ctx.allThreads === 1 ? '' : 's'}.`,
        'stored/plain = sealed block bytes ÷ plaintext bytes (zstd level 3 + AES-GCM overhead).',
        'peak RSS = highest sampled RSS (20 ms) in the phase; maxRSS = kernel high-water mark of the case process.',
        'others = CPU cores busy with other processes during put/get (a shared machine disturbs the figures).',
        ...caseNotes(results, ['put', 'get']),
      ],
    };
    return [table];
  },
};

export function workersLabel(threads: number, all: number): string {
  return threads === all && all > 1 ? `${threads} (all)` : String(threads);
}

export type ThroughputResult = CaseResult<PutGetParams>;
