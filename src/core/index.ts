/**
 * core: pure domain types and rules. No I/O, no Node built-ins beyond plain data and Intl.
 *
 * Concepts: BovedaError (stable code + cause + named object), the error-code registry; the lifecycle
 * vocabulary: Policy (schedule + retention), ProtectedItem and its states, Job, RetentionDecision;
 * and the rules over it:
 * - policy-rules: checkPolicy (validate + normalize, errors name the field), defaultPolicy,
 *   describeSchedule / describeRetention;
 * - zoned-time: wall-clock fields and instants in IANA zones (Intl only), calendar arithmetic;
 * - schedule: slots of a schedule, next / latest slot, dueSlot (catch up once), spreadOffsetMs;
 * - retention: applyRetention (keep / remove each point, with reasons and keepUntil);
 * - billing: protected instance size, billing state, price tables and monthly estimates.
 * - access: roles (reader < operator < contributor < admin), permissions and the Principal of a server request.
 * - vm-secret: names, kinds and size limits of a VM's disk-encryption secrets.
 * Invariants: error codes never change meaning; every code is documented in docs/errors.md.
 * Schedules and retention reckon days, weeks, months and years on the schedule zone's wall clock;
 * a spring-forward gap maps to the instant after it, an ambiguous time to the earlier instant.
 * Retention never removes the newest point of a VM, nor any point of a stopped-retain or
 * soft-deleted item, nor scheduled points whose policy is missing.
 */
export * from './errors.js';
export * from './error-codes.js';
export * from './policy.js';
export * from './protection.js';
export * from './job.js';
export * from './retention-decision.js';
export * from './zoned-time.js';
export * from './policy-rules.js';
export * from './schedule.js';
export * from './retention.js';
export * from './billing.js';
export * from './access.js';
export * from './vm-secret.js';
