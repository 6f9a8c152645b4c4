/**
 * format: the byte layouts of vault objects, frozen per version. Pure encode/decode; no I/O, no crypto
 * (the repository seals and opens payloads). Decoders throw FormatError naming the object.
 *
 * Objects: config (JSON + mac), key slots (JSON), packs (header, sealed blobs, sealed trailer, footer),
 * index files and manifests (envelope: magic ‖ version ‖ sealed payload), block-map pages.
 * docs/vault-format.md describes each byte by byte; test/format has golden bytes for each.
 */
export * from './binary.js';
export * from './constants.js';
export * from './envelope.js';
export * from './blob-entry.js';
export * from './pack-layout.js';
export * from './index-layout.js';
export * from './map-page.js';
export * from './json-fields.js';
export * from './vault-config.js';
export * from './key-slot-record.js';
export * from './point-manifest.js';
export * from './point-secrets.js';
