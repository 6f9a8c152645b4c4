import { migration0001 } from './0001-vms.js';
import { migration0002 } from './0002-lifecycle.js';
import { migration0003 } from './0003-qemu.js';
import { migration0004 } from './0004-server.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

/** Every migration, in version order. Append only. */
export const migrations: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004];
