// Where the tests find the external tools the setup scripts build into the cache
// ($QWEN_CACHE/bin, one stable name per tool pointing at the pinned version).
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const cacheDir = process.env.QWEN_CACHE ?? join(homedir(), '.cache', 'qwen-operator');
export const binDir = process.env.QWEN_BIN ?? join(cacheDir, 'bin');

/** Absolute path of a cached tool; throws with the command that builds it when it is missing. */
export function toolPath(name: string): string {
  const p = join(binDir, name);
  if (!existsSync(p)) throw new Error(`${name} not found in ${binDir}: run scripts/setup.sh`);
  return p;
}
