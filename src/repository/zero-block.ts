/** True when every byte is zero; compares 4 bytes at a time where alignment allows. */
export function isAllZero(data: Uint8Array): boolean {
  const aligned = data.byteOffset % 4 === 0 ? data.length >>> 2 : 0;
  if (aligned > 0) {
    const words = new Uint32Array(data.buffer, data.byteOffset, aligned);
    for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  }
  for (let i = aligned * 4; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}
