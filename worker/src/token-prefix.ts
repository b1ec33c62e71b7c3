// Token-prefix arithmetic shared by prefix reuse (engine.ts), the sequence pool and the host cache.
import type { Token } from 'node-llama-cpp';

/** Length of the common prefix of two token arrays. */
export function commonPrefix(a: readonly Token[], b: readonly Token[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
