// The autoscaling signals, as PromQL for KEDA's Prometheus scaler: the workers' queue (running +
// waiting requests) and the short-window burn rate of the SLOs more workers can fix. They read the
// same recorded series the alerts read (RECORD), so a scale-out and a page agree on what "burning"
// means. Each query returns exactly one series (KEDA refuses more than one) or none (read as 0). Pure.
import { formatDuration } from '../api/units.ts';
import { RECORD, matcher, selector, type Target } from './sli.ts';
import type { Slo } from './slos.ts';
import { METRIC } from '../../worker/src/contract.ts';

/** Worker gauges (the contract): requests holding a context sequence, and queued behind them. */
const REQUESTS_RUNNING = METRIC.requestsRunning;
const REQUESTS_WAITING = METRIC.requestsWaiting;

/** The burn window the autoscaler reacts to: the shortest one recorded for every SLO. */
export const SCALING_BURN_WINDOW = 300;

/**
 * Fewest events in the burn window before its ratio counts: with 2 requests in 5m one slow request
 * reads as a 50% error ratio, a 10x burn at a 95% objective, and would ask for 10x the workers.
 */
export const MIN_BURN_EVENTS = 10;

/**
 * SLOs whose burn more workers can relieve: the latency-like ones (queueing shows up in latency,
 * TTFT and decode speed). Errors and availability are not capacity problems (a crash loop does not
 * get better with more crashing pods) and stay with the alerts.
 */
export function scalingSlos(slos: Slo[]): Slo[] {
  return slos.filter((s) => s.kind === 'latency' || s.kind === 'ttft' || s.kind === 'tokens');
}

/** Running + waiting requests summed over the service's pods (one series). */
export function queueQuery(t: Target): string {
  return `sum(${selector(t, matcher('__name__', '=~', `${REQUESTS_RUNNING}|${REQUESTS_WAITING}`))})`;
}

/**
 * The largest short-window burn rate (bad-event ratio / error budget) among the given SLOs, from
 * the recorded series; absent (KEDA reads 0) while there is too little traffic to tell, and never
 * NaN (`>= 0` drops the 0/0 of an idle window).
 */
export function burnQuery(t: Target, slos: Slo[]): string | undefined {
  if (!slos.length) return undefined;
  const w = SCALING_BURN_WINDOW;
  // SLO names are generated (latency-p95, ttft-p99, output-tokens-per-second): no regex metacharacters.
  const s = selector(t, matcher('slo', '=~', slos.map((x) => x.name).join('|')));
  return [
    'max(',
    `  (${RECORD.errorRatio(w)}${s} / on (namespace, service, slo) ${RECORD.budget}${s}) >= 0`,
    `  and on (namespace, service, slo) ${RECORD.events(w)}${s} >= ${MIN_BURN_EVENTS}`,
    ')',
  ].join('\n');
}

export const SCALING_BURN_WINDOW_TEXT = formatDuration(SCALING_BURN_WINDOW);
