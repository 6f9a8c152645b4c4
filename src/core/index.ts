/**
 * core: pure domain types and rules. No I/O, no Node built-ins beyond plain data.
 *
 * Concepts: BovedaError (stable code + cause + named object), the error-code registry; the lifecycle
 * vocabulary: Policy (schedule + retention), ProtectedItem and its states, Job, RetentionDecision.
 * Invariants: error codes never change meaning; every code is documented in docs/errors.md.
 */
export * from './errors.js';
export * from './error-codes.js';
export * from './policy.js';
export * from './protection.js';
export * from './job.js';
export * from './retention-decision.js';
