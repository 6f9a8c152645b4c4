import type { Series } from '../lib/series.js';
import { blockSizeSeries } from './block-size.js';
import { memorySeries } from './memory.js';
import { throughputSeries } from './throughput.js';

/**
 * Every bench series, in report order. A series runs by default when its `byDefault` is true;
 * others run with --series <name>. Planned: "backup-restore" (Boveda vs restic vs borg: full and
 * incremental backup and restore of the reference image from bench/reference-image.ts, with the
 * churn functions there; external tools run through child processes from the case's run()).
 */
export const allSeries: ReadonlyArray<Series<never>> = [
  throughputSeries as Series<never>,
  memorySeries as Series<never>,
  blockSizeSeries as Series<never>,
];
