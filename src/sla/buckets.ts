// Histogram bucket boundaries the SLA needs. A latency SLO counts good events from the bucket
// `le=T`, so T must be a boundary of the worker's histograms: the operator passes these to the
// worker (`--slo-buckets a,b,c`), which adds all of them to all three histograms.
import { PERCENTILES, type Sla } from '../api/qwenservice.ts';
import { parseDuration } from '../api/units.ts';

/**
 * The time-per-output-token boundary of a tokens/s floor: 1/min, rounded to 6 significant digits.
 * 1/30 is 0.03333333333333333 in a float; every tool on the way (prom-client, Prometheus 2 and 3,
 * the rule regex) would have to agree on 17 digits. At 6 digits they all write it the same way,
 * and the floor moves by less than one part in a million.
 */
export function tokensThreshold(minTokensPerSecond: number): number {
  return Number((1 / minTokensPerSecond).toPrecision(6));
}

/**
 * Every bucket boundary (seconds) the SLA's objectives count on: each latency and TTFT threshold
 * and 1/min of the tokens/s floor. One flat, sorted, de-duplicated list (the worker adds all of
 * them to all three histograms); empty without an SLA.
 */
export function sloBucketBoundaries(sla: Sla | undefined): number[] {
  if (!sla) return [];
  const out = new Set<number>();
  for (const block of [sla.latency, sla.timeToFirstToken]) {
    for (const p of PERCENTILES) {
      const text = block?.[p];
      if (text) out.add(parseDuration(text));
    }
  }
  if (sla.outputTokensPerSecond) out.add(tokensThreshold(sla.outputTokensPerSecond.min));
  return [...out].sort((a, b) => a - b);
}
