/** A non-negative integer from the environment (for run counts and seeds), or the fallback. */
export function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name}=${text} must be a non-negative integer`);
  return value;
}
