// The queries the SLA status loop reads for one QwenService: per SLO its SLI over a window (the
// series the rules record, the raw SLI where those are absent) and the value shown as measured,
// the P95 printer column, and the budget-burn alerts firing. The SLOs and every SLI expression
// come from src/sla/, the same ones the alerts are compiled from, so status and alerts never
// disagree.
import type { QwenService } from '../api/qwenservice.ts';
import { ALERT_NAME_LABEL, BUDGET_BURN_ALERT, NAMESPACE_LABEL, QWENSERVICE_LABEL } from '../conventions.ts';
import { labelSelector, matcher, quantileExpr, rawSli, recordedSli, targetOf, type Target } from '../sla/sli.ts';
import type { Slo } from '../sla/slos.ts';
import { sliSourceOf } from '../plan/index.ts';

/** The queries that measure one SLO over a window. */
export type SloQueries = {
  /** Share of bad events (or bad time) over the window: 0 = perfect. Empty result = no data. */
  badRatio: string;
  /** Events counted over the window (requests; for availability, samples of `up`). */
  events: string;
  /** Value shown as "measured": seconds for latency/TTFT, tokens/s, or a ratio. */
  display: string;
};

/** The queries of one SLO over `window` seconds. */
export function queriesFor(qs: QwenService, slo: Slo, window: number): SloQueries {
  const t = targetOf(qs, sliSourceOf(qs));
  const raw = rawSli(t, slo, window);
  const recorded = recordedSli(t, slo, window);
  // Prefer the series the PrometheusRule records (what the alerts read, and cheap over 30d); fall
  // back to the raw SLI (`or on()`: only when the recorded series is absent, e.g. the Prometheus
  // does not load our rules, or the window is not one the rules record).
  return {
    badRatio: `max(${recorded.badRatio}) or on() (${raw.badRatio})`,
    events: `max(${recorded.events}) or on() (${raw.events})`,
    display: displayQuery(t, slo, window, raw.badRatio),
  };
}

function displayQuery(t: Target, slo: Slo, window: number, badRatio: string): string {
  switch (slo.kind) {
    case 'latency':
    case 'ttft':
      return quantileExpr(t, slo.kind, slo.objective, window);
    case 'tokens':
      // The decode speed the objective's share of requests reaches: 1 / that quantile of time per token.
      return `1 / ${quantileExpr(t, slo.kind, slo.objective, window)}`;
    case 'errors':
      return badRatio;
    case 'availability':
      return `1 - (${badRatio})`;
  }
}

/** Measured p95 request latency over the last hour (the P95 printer column), in seconds. */
export function p95Query(qs: QwenService): string {
  return quantileExpr(targetOf(qs, sliSourceOf(qs)), 'latency', 0.95, 3600);
}

/** QwenSLOBudgetBurn alerts firing for this QwenService (Prometheus' ALERTS series). */
export function firingAlertsQuery(qs: QwenService): string {
  const t = targetOf(qs);
  return `ALERTS${labelSelector(matcher(ALERT_NAME_LABEL, '=', BUDGET_BURN_ALERT), matcher('alertstate', '=', 'firing'), matcher(NAMESPACE_LABEL, '=', t.namespace), matcher(QWENSERVICE_LABEL, '=', t.service))}`;
}
