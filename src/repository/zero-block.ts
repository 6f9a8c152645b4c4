const zeros = new Uint8Array(4 * 1024 * 1024);

/** True when every byte is zero (a native memcmp against a zero buffer, chunk by chunk). */
export function isAllZero(data: Uint8Array): boolean {
  for (let at = 0; at < data.length; at += zeros.length) {
    const chunk = data.subarray(at, Math.min(at + zeros.length, data.length));
    if (Buffer.compare(chunk, zeros.subarray(0, chunk.length)) !== 0) return false;
  }
  return true;
}
