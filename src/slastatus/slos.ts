// The SLOs of a QwenService as the status loop reads them, and the PromQL that measures each one.
// Names and SLI definitions follow the alert contract of DESIGN.md ([S]): slo = latency-pNN,
// ttft-pNN, output-tokens-per-second, error-rate, availability; series selected by
// {namespace, service}; invalid_request and cancelled are not the service's fault; a threshold is
// a bucket boundary matched with a regex that accepts `3` and `3.0`.
import type { QwenService } from '../api/qwenservice.ts';
import { leRegex as leAlternatives } from '../sla/le.ts';
import { NOT_OUR_FAULT, REQUEST_DURATION, TPOT, TTFT, slosOf as compiledSlos, type Slo as CompiledSlo } from '../sla/slos.ts';
import { RECORD } from '../sla/promql.ts';
import { parseDuration } from '../api/units.ts';

export { REQUEST_DURATION, TPOT, TTFT, NOT_OUR_FAULT };
export type SloKind = CompiledSlo['kind'];

/** An SLO of the compiler ([S]) plus what the status shows for it. */
export type Slo = CompiledSlo & {
  /** How the objective reads in status, e.g. "95% of requests complete within 3s". */
  objectiveText: string;
  /** For latency/TTFT/tokens: the quantile shown as the measured value (0.95 for p95). */
  quantile?: number;
};

/** The SLOs exactly as the rule compiler derives them, so status and alerts never disagree. */
export function slosOf(qs: QwenService): Slo[] {
  return compiledSlos(qs.spec.sla).map((s) => ({
    ...s,
    objectiveText: s.description,
    ...(s.kind === 'latency' || s.kind === 'ttft' || s.kind === 'tokens' ? { quantile: s.objective } : {}),
  }));
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

export function selector(qs: QwenService, extra = ''): string {
  const ns = qs.metadata.namespace ?? 'default';
  return `{namespace="${esc(ns)}",service="${esc(qs.metadata.name)}"${extra ? `,${extra}` : ''}}`;
}

/** `le` matcher value (escaped for a PromQL string) accepting every spelling of a boundary. */
export function leRegex(seconds: number): string {
  return leAlternatives(seconds).replace(/\\/g, '\\\\');
}

const metricOf = (s: Slo) => (s.kind === 'latency' ? REQUEST_DURATION : s.kind === 'ttft' ? TTFT : TPOT);
const counted = (s: Slo) => (s.kind === 'latency' ? `error_type!~"${NOT_OUR_FAULT.join('|')}"` : '');

/** The queries that measure one SLO over a range `w` (a Prometheus duration such as 1h or 30d). */
export type SloQueries = {
  /** Share of bad events (or bad time) over w: 0 = perfect. Empty result = no data. */
  badRatio: string;
  /** Events counted over w (requests; for availability, samples of `up`). */
  events: string;
  /** Value shown as "measured": seconds for latency/TTFT, tokens/s, or a ratio. */
  display: string;
};

export function queriesFor(qs: QwenService, s: Slo, w: string): SloQueries {
  const raw = rawQueriesFor(qs, s, w);
  // Prefer the series the PrometheusRule records (what the alerts read, and cheap over 30d); fall
  // back to the raw SLI (`or on()`: only when the recorded series is absent, e.g. the Prometheus
  // does not load our rules, or the window is not one the rules record).
  const seconds = parseDuration(w);
  const sel = selector(qs, `slo="${esc(s.name)}"`);
  return {
    badRatio: `max(${RECORD.errorRatio(seconds)}${sel}) or on() (${raw.badRatio})`,
    events: `max(${RECORD.events(seconds)}${sel}) or on() (${raw.events})`,
    display: raw.display,
  };
}

/** The SLI straight from the worker's series (no recording rules needed). */
export function rawQueriesFor(qs: QwenService, s: Slo, w: string): SloQueries {
  if (s.kind === 'availability') {
    // Time-based: the share of the window the best target was up. (Exact for "at least one target
    // up" would be a subquery over max(up); over 30d that is tens of thousands of steps per read,
    // and subquery steps align to wall-clock multiples, so a young series reads as no data.)
    const up = `max(avg_over_time(up${selector(qs)}[${w}]))`;
    return { badRatio: `1 - ${up}`, events: `max(count_over_time(up${selector(qs)}[${w}]))`, display: up };
  }
  if (s.kind === 'errors') {
    const total = `sum(increase(${REQUEST_DURATION}_count${selector(qs, `error_type!~"${NOT_OUR_FAULT.join('|')}"`)}[${w}]))`;
    const bad = `sum(increase(${REQUEST_DURATION}_count${selector(qs, `error_type!~"|${NOT_OUR_FAULT.join('|')}"`)}[${w}]))`;
    return { badRatio: `(${bad} or vector(0)) / ${total}`, events: total, display: `(${bad} or vector(0)) / ${total}` };
  }
  const metric = metricOf(s);
  const extra = counted(s);
  const total = `sum(increase(${metric}_count${selector(qs, extra)}[${w}]))`;
  const good = `sum(increase(${metric}_bucket${selector(qs, [extra, `le=~"${leRegex(s.threshold!)}"`].filter(Boolean).join(','))}[${w}]))`;
  const quantile = `histogram_quantile(${s.quantile}, sum by (le) (increase(${metric}_bucket${selector(qs, extra)}[${w}])))`;
  return { badRatio: `1 - ${good} / ${total}`, events: total, display: s.kind === 'tokens' ? `1 / ${quantile}` : quantile };
}

/** Measured p95 request latency over the last hour (the P95 printer column), in seconds. */
export function p95Query(qs: QwenService): string {
  return `histogram_quantile(0.95, sum by (le) (increase(${REQUEST_DURATION}_bucket${selector(qs, `error_type!~"${NOT_OUR_FAULT.join('|')}"`)}[1h])))`;
}

/** QwenSLOBudgetBurn alerts firing for this QwenService (Prometheus' ALERTS series). */
export function firingAlertsQuery(qs: QwenService): string {
  const ns = qs.metadata.namespace ?? 'default';
  return `ALERTS{alertname="QwenSLOBudgetBurn",alertstate="firing",namespace="${esc(ns)}",qwenservice="${esc(qs.metadata.name)}"}`;
}
