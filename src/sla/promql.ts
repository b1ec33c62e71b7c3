// PromQL of the SLIs: for one SLO and one window, the share of bad events (or bad time) and the
// number of events. Aggregated `sum by (namespace, service)` before dividing, so the output has
// one series per SLO and window, never one per pod, and a worker restart (counter reset) is
// absorbed by rate()/increase() on each pod's series before the sum.
import { formatDuration } from '../api/units.ts';
import { leRegex } from './le.ts';
import { NOT_OUR_FAULT, REQUEST_DURATION, TPOT, TTFT, type Slo } from './slos.ts';

export type Target = { namespace: string; service: string };

/** Names of the recorded series (labels: namespace, service, slo). */
export const RECORD = {
  errorRatio: (w: number) => `qwen_slo:sli_error:ratio_rate${formatDuration(w)}`,
  events: (w: number) => `qwen_slo:sli_events:increase${formatDuration(w)}`,
  badEvents5m: 'qwen_slo:sli_bad_events:increase5m',
  budget: 'qwen_slo:error_budget:ratio',
  budgetRemaining: 'qwen_slo:error_budget_remaining:ratio',
  /** Best target's `up` (1 while at least one worker is up); labels namespace, service. */
  upMax: 'qwen_slo:up:max',
} as const;

export const BY = 'namespace, service';

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

export function selector(t: Target, ...extra: string[]): string {
  return `{${[`namespace="${esc(t.namespace)}"`, `service="${esc(t.service)}"`, ...extra.filter(Boolean)].join(',')}}`;
}

export function sloSelector(t: Target, slo: Slo): string {
  return selector(t, `slo="${esc(slo.name)}"`);
}

const counted = `error_type!~"${NOT_OUR_FAULT.join('|')}"`;
const failed = `error_type!~"|${NOT_OUR_FAULT.join('|')}"`;

function histogramOf(slo: Slo): { metric: string; filter: string } {
  if (slo.kind === 'latency') return { metric: REQUEST_DURATION, filter: counted };
  if (slo.kind === 'ttft') return { metric: TTFT, filter: '' };
  return { metric: TPOT, filter: '' };
}

/** The good-bucket matcher of a histogram SLO (the SLO's threshold, any spelling). */
export function leMatcher(slo: Slo): string {
  return `le=~"${esc(leRegex(slo.threshold!))}"`;
}

/** Series every SLO of this kind needs to exist: their absence means the SLO cannot be measured. */
export function requiredSeries(t: Target, slo: Slo): string | undefined {
  if (slo.kind === 'availability' || slo.kind === 'errors') return undefined;
  const { metric } = histogramOf(slo);
  return `${metric}_bucket${selector(t, leMatcher(slo))}`;
}

/** Events counted by an event-based SLO over w, summed over the service's pods. */
export function eventsExpr(t: Target, slo: Slo, w: number): string {
  const range = formatDuration(w);
  if (slo.kind === 'availability') return `count_over_time(${RECORD.upMax}${selector(t)}[${range}])`;
  if (slo.kind === 'errors') return `sum by (${BY}) (increase(${REQUEST_DURATION}_count${selector(t, counted)}[${range}]))`;
  const { metric, filter } = histogramOf(slo);
  return `sum by (${BY}) (increase(${metric}_count${selector(t, filter)}[${range}]))`;
}

/** Share of bad events (bad time for availability) over w. Empty (no alert) without traffic. */
export function errorRatioExpr(t: Target, slo: Slo, w: number): string {
  const range = formatDuration(w);
  if (slo.kind === 'availability') return `1 - avg_over_time(${RECORD.upMax}${selector(t)}[${range}])`;
  if (slo.kind === 'errors') {
    const total = `sum by (${BY}) (rate(${REQUEST_DURATION}_count${selector(t, counted)}[${range}]))`;
    // `or 0 * total`: a missing failure series means no failures, not "no data".
    return `(\n  sum by (${BY}) (rate(${REQUEST_DURATION}_count${selector(t, failed)}[${range}]))\n  or 0 * ${total}\n)\n/\n${total}`;
  }
  const { metric, filter } = histogramOf(slo);
  const good = `sum by (${BY}) (rate(${metric}_bucket${selector(t, filter, leMatcher(slo))}[${range}]))`;
  const total = `sum by (${BY}) (rate(${metric}_count${selector(t, filter)}[${range}]))`;
  return `1 - (\n  ${good}\n  /\n  ${total}\n)`;
}

/** Bad events over 5m (feeds the SLA-window ratio without a 30d range over raw histograms). */
export function badEvents5mExpr(t: Target, slo: Slo): string {
  if (slo.kind === 'errors') {
    const total = `sum by (${BY}) (increase(${REQUEST_DURATION}_count${selector(t, counted)}[5m]))`;
    return `sum by (${BY}) (increase(${REQUEST_DURATION}_count${selector(t, failed)}[5m]))\nor 0 * ${total}`;
  }
  const { metric, filter } = histogramOf(slo);
  const good = `sum by (${BY}) (increase(${metric}_bucket${selector(t, filter, leMatcher(slo))}[5m]))`;
  return `${eventsExpr(t, slo, 300)}\n- ${good}`;
}

/**
 * Share bad over the SLA window. Event SLOs: the sums of the recorded 5m bad and total counts
 * (both over-count by the same factor, 5m / evaluation interval, which cancels in the ratio);
 * reading 30 days of raw buckets at every evaluation would cost far more.
 */
export function slaWindowRatioExpr(t: Target, slo: Slo, window: number): string {
  const range = formatDuration(window);
  if (slo.kind === 'availability') return errorRatioExpr(t, slo, window);
  const s = sloSelector(t, slo);
  return `sum_over_time(${RECORD.badEvents5m}${s}[${range}])\n/\nsum_over_time(${RECORD.events(300)}${s}[${range}])`;
}
