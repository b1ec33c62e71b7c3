// How many CPUs this process may really use: the cgroup v2 (or v1) CPU quota and the affinity mask
// (os.availableParallelism). llama.cpp with more threads than cores spins on barriers: measured on a
// 2-core machine, node-llama-cpp's default (maxThreads 4) gave 0.4 tokens/s, threads 2 gave 41.
import { readFileSync } from 'node:fs';
import os from 'node:os';

function read(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}

/** CPUs allowed by a cgroup quota, or undefined when unlimited/unknown. */
export function cgroupCpuLimit(readFile: (p: string) => string | undefined = read): number | undefined {
  const v2 = readFile('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0) return Math.max(1, Math.ceil(Number(quota) / Number(period)));
    return undefined;
  }
  const q = readFile('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? readFile('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us');
  const p = readFile('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? readFile('/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us');
  if (q !== undefined && p !== undefined && Number(q) > 0 && Number(p) > 0) return Math.max(1, Math.ceil(Number(q) / Number(p)));
  return undefined;
}

export function availableCpus(limit = cgroupCpuLimit(), parallelism = os.availableParallelism()): number {
  return Math.max(1, Math.min(parallelism, limit ?? Infinity));
}

/** The thread count to use: the request, never more than the CPUs available. */
export function resolveThreads(requested: number | undefined, available = availableCpus()): { threads: number; clamped: boolean } {
  if (requested === undefined) return { threads: available, clamped: false };
  return { threads: Math.min(requested, available), clamped: requested > available };
}
