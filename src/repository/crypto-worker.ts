import { parentPort, workerData } from 'node:worker_threads';
import { BlockCrypto } from '../crypto/index.js';
import { ADDRESS_BYTES } from '../format/index.js';
import { StoreState, type CryptoRequest, type CryptoResponse, type StagedBlocks, type WorkerSetup } from './crypto-protocol.js';
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

function sameAddress(a: Uint8Array, aAt: number, b: Uint8Array): boolean {
  for (let k = 0; k < ADDRESS_BYTES; k++) if (a[aAt + k] !== b[k]) return false;
  return true;
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
  if (request.op === 'store') {
    const { staged } = request;
    const count = staged.lengths.length;
    const addresses = new Uint8Array(count * ADDRESS_BYTES);
    const parent = request.parent ? new Uint8Array(request.parent) : undefined;
    const state = new Uint8Array(count);
    const offsets = new Uint32Array(count);
    const lengths = new Uint32Array(count);
    const out = new Uint8Array(request.out);
    let at = 0;
    for (let i = 0; i < count; i++) {
      const block = new Uint8Array(staged.data, staged.offsets[i]!, staged.lengths[i]!);
      // All-zero blocks keep the zero address: they are never stored.
      if (isAllZero(block)) continue; // StoreState.zero
      const address = crypto.blockAddress(block);
      addresses.set(address, i * ADDRESS_BYTES);
      if (parent && sameAddress(parent, i * ADDRESS_BYTES, address)) {
        state[i] = StoreState.same;
        continue;
      }
      // Sealed here, in the same pass, although the vault may already hold the block: the main
      // thread's index decides; sealing a block it then drops costs less than a second round trip.
      const { length } = crypto.sealInto(address, block, out, at);
      state[i] = StoreState.sealed;
      offsets[i] = at;
      lengths[i] = length;
      at += length;
    }
    return { response: { id: request.id, op: 'store', addresses: addresses.buffer, state, offsets, lengths }, transfer: [addresses.buffer] };
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
  const { staged } = request;
  const count = staged.lengths.length;
  const addresses = new Uint8Array(request.addresses);
  const failed = new Uint8Array(count);
  const lengths = new Uint32Array(count);
  // Not zero-filled: every byte handed back is written below (the unused tail is cut off).
  const shared = request.out && request.out.byteLength >= request.capacity ? new Uint8Array(request.out) : undefined;
  let out: Uint8Array = shared ?? new Uint8Array(Buffer.allocUnsafeSlow(request.capacity).buffer as ArrayBuffer, 0, request.capacity);
  let at = 0;
  // Exactly the plaintext's size at the end of what is written so far (grown only when the caller's
  // capacity was short).
  const reserve = (size: number): Uint8Array => {
    if (at + size > out.length) {
      const grown = new Uint8Array(Math.max(at + size, out.length * 2));
      grown.set(out.subarray(0, at));
      out = grown;
    }
    return out.subarray(at, at + size);
  };
  for (let i = 0; i < count; i++) {
    const address = addresses.subarray(i * ADDRESS_BYTES, (i + 1) * ADDRESS_BYTES);
    const blob = new Uint8Array(staged.data, staged.offsets[i]!, staged.lengths[i]!);
    const length = crypto.openInto(address, blob, reserve);
    if (length < 0 || (request.verify && !crypto.matches(request.kind, address, out.subarray(at, at + length)))) {
      failed[i] = 1;
      continue;
    }
    lengths[i] = length;
    at += length;
  }
  if (out === shared) return { response: { id: request.id, op: 'open', data: null, lengths, failed }, transfer: [] };
  // The plaintexts fill `capacity` exactly when every blob opened and the caller sized it from the index.
  const data = at === out.length && !(out.buffer instanceof SharedArrayBuffer) ? out.buffer : out.slice(0, at).buffer as ArrayBuffer;
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
