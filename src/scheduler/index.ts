/**
 * scheduler: when scheduled backups run. Depends on catalog and core only: it receives the backup
 * handler, it does not import the engine.
 *
 * Concepts: Scheduler (tick: due slots → spread → claim → run; start/stop for `serve`), TickReport.
 * Invariants: a (VM, slot) runs at most once whatever the number of processes (the catalog claim);
 * after downtime an item runs its latest missed slot once; never two backups of one VM at once;
 * at most maxConcurrentBackups scheduled backups run at once.
 */
export * from './scheduler.js';
