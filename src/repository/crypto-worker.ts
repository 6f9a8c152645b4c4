import { parentPort, workerData } from 'node:worker_threads';
import { BlockCrypto } from '../crypto/index.js';
import { ADDRESS_BYTES } from '../format/index.js';
import type { CryptoRequest, CryptoResponse, StagedBlocks, WorkerSetup } from './crypto-protocol.js';
import { isAllZero } from './zero-block.js';

// One per core: hashing, compression and encryption of batches handed out by CryptoPool.
const setup = workerData as WorkerSetup;
const crypto = new BlockCrypto(setup.keys, setup.compressionLevel);
const port = parentPort!;

function stagedSlices(staged: StagedBlocks, which?: Uint32Array): Uint8Array[] {
  const indexes = which ?? staged.offsets.map((_, i) => i);
  return Array.from(indexes, (i) => new Uint8Array(staged.data, staged.offsets[i]!, staged.lengths[i]!));
}

/** Results laid end to end in one transferable buffer, with their lengths. */
function concatenate(parts: readonly Uint8Array[]): { data: ArrayBuffer; lengths: Uint32Array } {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  const lengths = new Uint32Array(parts.length);
  let at = 0;
  parts.forEach((part, i) => {
    out.set(part, at);
    at += part.length;
    lengths[i] = part.length;
  });
  return { data: out.buffer, lengths };
}

function handle(request: CryptoRequest): { response: CryptoResponse; transfer: ArrayBuffer[] } {
  if (request.op === 'hash') {
    const blocks = stagedSlices(request.staged);
    const addresses = new Uint8Array(blocks.length * ADDRESS_BYTES);
    blocks.forEach((block, i) => {
      // All-zero blocks keep the zero address: they are never stored.
      if (request.kind === 'block' && isAllZero(block)) return;
      addresses.set(request.kind === 'block' ? crypto.blockAddress(block) : crypto.pageAddress(block), i * ADDRESS_BYTES);
    });
    return { response: { id: request.id, op: 'hash', addresses: addresses.buffer }, transfer: [addresses.buffer] };
  }
  if (request.op === 'seal') {
    const blocks = stagedSlices(request.staged, request.which);
    const addresses = new Uint8Array(request.addresses);
    const sealed: Uint8Array[] = [];
    const codecs = new Uint8Array(blocks.length);
    blocks.forEach((block, i) => {
      const result = crypto.seal(addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES), block);
      sealed.push(result.sealed);
      codecs[i] = result.codec;
    });
    const { data, lengths } = concatenate(sealed);
    return { response: { id: request.id, op: 'seal', data, lengths, codecs }, transfer: [data] };
  }
  const blobs = stagedSlices(request.staged);
  const addresses = new Uint8Array(request.addresses);
  const failed = new Uint8Array(blobs.length);
  const plain = blobs.map((blob, i) => {
    const data = crypto.open(addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES), blob, request.kind);
    if (data === undefined) failed[i] = 1;
    return data ?? new Uint8Array(0);
  });
  const { data, lengths } = concatenate(plain);
  return { response: { id: request.id, op: 'open', data, lengths, failed }, transfer: [data] };
}

port.on('message', (request: CryptoRequest) => {
  try {
    const { response, transfer } = handle(request);
    port.postMessage(response, transfer);
  } catch (error) {
    port.postMessage({ id: request.id, op: 'error', message: error instanceof Error ? error.message : String(error) } satisfies CryptoResponse);
  }
});
