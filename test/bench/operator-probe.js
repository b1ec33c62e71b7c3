// Loaded into the benchmarked operator process (NODE_OPTIONS=--import), never into the product.
// Plain JavaScript: a .ts file here would load Node's type stripper into the measured process.
// on SIGUSR2 it appends one JSON line to $OP_PROBE_FILE with
// - allocatedBytes: V8 heap bytes allocated since the probe started. Between two GCs the heap's
//   used size grows by exactly what was allocated (bump allocation), so the sum of (used before
//   a GC - used after the previous one) over every GC (v8.GCProfiler sees scavenges too), plus the
//   growth since the last GC, is the allocation. Node 24 has no total_allocated_bytes counter.
// - heapUsedAfterGcBytes: the heap's used size after a forced full GC (the live data), taken
//   after allocatedBytes so the forced GC is not counted as allocation.
// With $OP_PROBE_ALLOCATION_PROFILE set, a sampling allocation profile (collected objects
// included: where the churn comes from) runs from the first signal and is written to that path
// (.heapprofile, for Chrome DevTools) at the second.
import { appendFileSync } from 'node:fs';
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';

const file = process.env.OP_PROBE_FILE;
if (file) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  let profiler = new GCProfiler();
  profiler.start();
  let allocated = 0;
  let peakHeapTotal = 0; // the heap's committed size at its largest (before a GC), for the RSS it explains
  let peakExternal = 0;
  let last = getHeapStatistics().used_heap_size;
  const account = () => {
    for (const s of profiler.stop()?.statistics ?? []) {
      allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - last);
      peakHeapTotal = Math.max(peakHeapTotal, s.beforeGC.heapStatistics.totalHeapSize);
      peakExternal = Math.max(peakExternal, s.beforeGC.heapStatistics.externalMemory);
      last = s.afterGC.heapStatistics.usedHeapSize;
    }
    const now = getHeapStatistics().used_heap_size;
    allocated += Math.max(0, now - last);
    last = now;
  };
  const profilePath = process.env.OP_PROBE_ALLOCATION_PROFILE;
  let session;
  let signals = 0;
  const profile = async () => {
    if (!profilePath) return;
    if (++signals === 1) {
      session = new Session();
      session.connect();
      await session.post('HeapProfiler.startSampling', { samplingInterval: 32_768, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    } else if (signals === 2 && session) {
      const { profile: p } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(profilePath, JSON.stringify(p));
    }
  };
  process.on('SIGUSR2', () => {
    void profile();
    account();
    const allocatedBytes = allocated;
    gc();
    gc();
    const heapUsedAfterGcBytes = getHeapStatistics().used_heap_size;
    // The forced GCs are the probe's own: restart the accounting after them.
    profiler = new GCProfiler();
    profiler.start();
    last = getHeapStatistics().used_heap_size;
    appendFileSync(file, `${JSON.stringify({ allocatedBytes, heapUsedAfterGcBytes, rssBytes: process.memoryUsage.rss(), peakHeapTotalBytes: peakHeapTotal, peakExternalBytes: peakExternal })}\n`);
  });
}
