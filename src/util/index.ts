/**
 * util: small helpers with no domain knowledge: abort checks, an injectable clock,
 * a semaphore to bound in-flight work, size parsing, a seeded PRNG.
 * Depends on core only for the error class.
 */
export * from './abort.js';
export * from './clock.js';
export * from './semaphore.js';
export * from './size.js';
export * from './seeded-random.js';
