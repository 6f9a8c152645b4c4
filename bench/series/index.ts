import type { Series } from '../lib/series.js';
import { blockSizeSeries } from './block-size.js';
import { memorySeries } from './memory.js';
import { throughputSeries } from './throughput.js';
import { vsToolsSeries } from './vs-tools.js';

/**
 * Every bench series, in report order. A series runs by default when its `byDefault` is true;
 * others run with --series <name>. "vs-tools" (Boveda vs restic vs borg on the reference image)
 * skips the tools that are not installed.
 */
export const allSeries: ReadonlyArray<Series<never>> = [
  throughputSeries as Series<never>,
  memorySeries as Series<never>,
  vsToolsSeries as Series<never>,
  blockSizeSeries as Series<never>,
];
