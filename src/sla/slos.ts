// The SLOs an SLA block declares, with every unit parsed once: one SLO per target, each with its
// objective and error budget as fractions and, for the histogram-based ones, the bucket threshold in
// seconds that separates good from bad events. Everything downstream (rules, status, dashboard,
// autoscaling, the worker's bucket list) works from this list, never from the SLA's strings. Pure.
import { PERCENTILES, PERCENTILE_OBJECTIVE, type Sla } from '../api/qwenservice.ts';
import { formatPercent, parseDuration, parsePercent } from '../api/units.ts';
import type { SliSource } from './sli.ts';

export type SloKind = 'latency' | 'ttft' | 'tokens' | 'errors' | 'availability';

export type Slo = {
  /** The `slo` label of QwenSLOBudgetBurn: latency-p95, ttft-p99, output-tokens-per-second, error-rate, availability. */
  name: string;
  kind: SloKind;
  /** Share of good events (or good time) required over the SLA window, e.g. 0.95; for latency, TTFT and tokens also the quantile that measures it. */
  objective: number;
  /** 1 - objective: the share of events (or time) allowed to be bad. */
  budget: number;
  /** Histogram bucket (seconds) that separates good from bad events (latency, TTFT, tokens). */
  threshold?: number;
  /** One line for humans, e.g. "95% of requests take <= 3s". */
  description: string;
};

/** An SLA block with its units parsed: what the SLA compiler and the status loop work on. */
export type NormalizedSla = {
  /** The SLA window (compliance period), seconds. */
  window: number;
  slos: Slo[];
  /** Whose series the client-side SLIs read (sli.ts SliSource): the plan's, from spec.router. */
  source: SliSource;
};

/** The SLA window when the block names none. */
export const DEFAULT_SLA_WINDOW = '30d';

export function normalizeSla(sla: Sla | undefined, source: SliSource = 'worker'): NormalizedSla {
  return { window: parseDuration(sla?.window ?? DEFAULT_SLA_WINDOW), slos: slosOf(sla, source), source };
}

export function slosOf(sla: Sla | undefined, source: SliSource = 'worker'): Slo[] {
  if (!sla) return [];
  const out: Slo[] = [];
  const blocks = [
    ['latency', 'latency', sla.latency, 'of requests complete within'],
    ['ttft', 'ttft', sla.timeToFirstToken, 'of requests get their first token within'],
  ] as const;
  for (const [kind, prefix, block, words] of blocks) {
    for (const p of PERCENTILES) {
      const text = block?.[p];
      if (!text) continue;
      const objective = PERCENTILE_OBJECTIVE[p];
      out.push(slo(`${prefix}-${p}`, kind, objective, `${formatPercent(objective)} ${words} ${text}`, parseDuration(text)));
    }
  }
  const tps = sla.outputTokensPerSecond;
  if (tps) {
    const objective = parsePercent(tps.objective);
    out.push(slo('output-tokens-per-second', 'tokens', objective, `${formatPercent(objective)} of requests decode at >= ${tps.min} tokens/s`, tokensThreshold(tps.min)));
  }
  if (sla.errorRate) {
    const e = parsePercent(sla.errorRate);
    out.push(slo('error-rate', 'errors', round(1 - e), `at most ${sla.errorRate} of requests fail through the service's fault`));
  }
  if (sla.availability) {
    const a = parsePercent(sla.availability);
    const who = source === 'router' ? 'router replica' : 'worker';
    out.push(slo('availability', 'availability', a, `at least one ${who} is up ${sla.availability} of the time`));
  }
  return out;
}

/**
 * Every histogram bucket boundary (seconds) the SLOs count good events under, sorted and unique.
 * A latency SLO counts good events from the bucket `le=T`, so T must be a boundary of the worker's
 * histograms: the operator passes these to the worker (`--slo-buckets a,b,c`), which adds all of
 * them to all three histograms. Empty without an SLA.
 */
export function sloBucketBoundaries(slos: Slo[]): number[] {
  const thresholds = slos.map((s) => s.threshold).filter((x): x is number => x !== undefined);
  return [...new Set(thresholds)].sort((a, b) => a - b);
}

/**
 * The time-per-output-token boundary of a tokens/s floor: 1/min, rounded to 6 significant digits.
 * 1/30 is 0.03333333333333333 in a float; every tool on the way (prom-client, Prometheus 2 and 3,
 * the rule regex) would have to agree on 17 digits. At 6 digits they all write it the same way,
 * and the floor moves by less than one part in a million.
 */
export function tokensThreshold(minTokensPerSecond: number): number {
  return Number((1 / minTokensPerSecond).toPrecision(6));
}

function slo(name: string, kind: SloKind, objective: number, description: string, threshold?: number): Slo {
  const s: Slo = { name, kind, objective, budget: round(1 - objective), description };
  if (threshold !== undefined) s.threshold = threshold;
  return s;
}

// 1 - 0.999 is 0.0010000000000000009 in floats; the budget is printed and multiplied into
// thresholds, so keep it at the precision the percentage was written with.
const round = (x: number) => Number(x.toPrecision(12));
