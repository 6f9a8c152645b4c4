/**
 * Boveda's public module: the app layer (composition root) for programs that embed Boveda.
 * Layers, bottom up: core ← util ← crypto, format, storage ← repository ← app ← cli.
 */
export * from './app/index.js';
export * from './core/index.js';
