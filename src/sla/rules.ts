// SLA block -> Prometheus rule groups: the SLI recording rules of every SLO over every window the
// alerts and dashboard read, the multiwindow burn-rate alerts of each kept tier, and the alert for
// vanished metrics. The output is a plain `groups:` list; the PrometheusRule renderer and
// `render --format prometheus-rules` wrap it. Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { formatDuration, formatPercent, formatSeconds, parseDuration } from '../api/units.ts';
import { BUDGET_BURN_ALERT, METRICS_ABSENT_ALERT, QWENSERVICE_LABEL, SEVERITY_LABEL, SLO_LABEL } from '../conventions.ts';
import {
  RECORD, badEvents5mRecordingExpr, readsRouter, recordedLabels, requestCountSeries, requiredSeries, routerServiceOf, slaWindowRecordingExpr, sliRecordingExprs, sloSelector, targetOf, upMaxRecordingExpr, type Target,
} from './sli.ts';
import { ROUTER_METRIC } from '../../router/src/contract.ts';
import { METRIC } from '../../worker/src/contract.ts';
import { normalizeSla, type NormalizedSla, type Slo } from './slos.ts';
import { planSlo, type SloPlan, type Tier } from './tiers.ts';

export type RecordingRule = { record: string; expr: string; labels?: Record<string, string> };
export type AlertingRule = { alert: string; expr: string; for?: string; keep_firing_for?: string; labels: Record<string, string>; annotations: Record<string, string> };
export type Rule = RecordingRule | AlertingRule;
export type RuleGroup = { name: string; rules: Rule[] };

/** Windows recorded for every SLO whatever its tiers (the dashboard and status read them): 5m, 30m, 1h, 2h, 6h, 1d, 3d. */
export const STANDARD_WINDOWS = [300, 1800, 3600, 7200, 21600, 86400, 259200];

/** How long the service's series must be gone before QwenSLOMetricsAbsent fires (a rollout is shorter). */
export const ABSENT_FOR = '10m';

/** Where alerts link to: the runbook (an anchor per alert is appended to a base without one) and the dashboard. */
export type Links = { runbookURL: string; dashboardURL?: string };

export type CompiledSla = { plans: SloPlan[]; groups: RuleGroup[]; window: number };

export function scrapeIntervalOf(qs: QwenService): number {
  return parseDuration(qs.spec.monitoring?.serviceMonitor?.interval ?? '15s');
}

/** `sla`: qs.spec.sla normalized (the plan's), when the caller has it already. */
export function compileSla(qs: QwenService, links: Links, sla: NormalizedSla = normalizeSla(qs.spec.sla)): CompiledSla {
  const { window, slos } = sla;
  const plans = slos.map((s) => planSlo(s, { scrapeInterval: scrapeIntervalOf(qs) }));
  if (!slos.length) return { plans, groups: [], window };
  const t = targetOf(qs, sla.source);
  const recording: Rule[] = [];
  if (slos.some((s) => s.kind === 'availability')) {
    // Time-based availability: available while at least one target is up.
    const labels = recordedLabels(t, 'availability');
    recording.push({ record: RECORD.upMax, expr: upMaxRecordingExpr(t), ...(Object.keys(labels).length ? { labels } : {}) });
  }
  for (const plan of plans) recording.push(...recordingRules(t, plan, window));
  const alerts: Rule[] = plans.flatMap((p) => p.tiers.map((tier) => burnAlert(qs, t, p.slo, tier, window, links)));
  // Autoscaled services always run workers (minReplicas >= 1), whatever spec.replicas says.
  if (qs.spec.replicas > 0 || qs.spec.autoscaling) alerts.push(absentAlert(qs, t, slos, links));
  // One group: Prometheus evaluates a group's rules in order, within one evaluation, so every alert
  // reads the recording rules of the same evaluation. (Two groups run on their own timers; on
  // Prometheus 2.42 their order jittered and an alert sometimes read the previous evaluation.)
  return { plans, window, groups: [{ name: `qwen-slo-${qs.metadata.name}`, rules: [...recording, ...alerts] }] };
}

function recordingRules(t: Target, plan: SloPlan, window: number): RecordingRule[] {
  const { slo } = plan;
  const labels = { ...recordedLabels(t, slo.kind), slo: slo.name };
  const windows = [...new Set([...STANDARD_WINDOWS, ...plan.tiers.flatMap((x) => [x.long, x.short])])].sort((a, b) => a - b);
  const out: RecordingRule[] = [];
  for (const w of windows) {
    const sli = sliRecordingExprs(t, slo, w);
    out.push({ record: RECORD.errorRatio(w), expr: sli.badRatio, labels });
    out.push({ record: RECORD.events(w), expr: sli.events, labels });
  }
  if (slo.kind !== 'availability') out.push({ record: RECORD.badEvents5m, expr: badEvents5mRecordingExpr(t, slo), labels });
  out.push({ record: RECORD.errorRatio(window), expr: slaWindowRecordingExpr(t, slo, window), labels });
  out.push({ record: RECORD.budget, expr: `vector(${slo.budget})`, labels: { namespace: t.namespace, service: t.service, slo: slo.name } });
  const s = sloSelector(t, slo);
  out.push({ record: RECORD.budgetRemaining, expr: `1 - ${RECORD.errorRatio(window)}${s} / ${RECORD.budget}${s}`, labels });
  return out;
}

/** The alert expression of one tier: both windows above the threshold, enough events (guard). */
export function burnExpr(t: Target, slo: Slo, tier: Tier): string {
  const s = sloSelector(t, slo);
  const lines = [
    `${RECORD.errorRatio(tier.long)}${s} > ${tier.threshold}`,
    `and ${RECORD.errorRatio(tier.short)}${s} > ${tier.threshold}`,
    `and ${RECORD.events(tier.long)}${s} >= ${tier.minEvents}`,
  ];
  if (tier.minBad !== undefined) lines.push(`and ${RECORD.errorRatio(tier.long)}${s} * ${RECORD.events(tier.long)}${s} >= ${tier.minBad}`);
  return lines.join('\n');
}

function burnAlert(qs: QwenService, t: Target, slo: Slo, tier: Tier, window: number, links: Links): AlertingRule {
  const s = sloSelector(t, slo);
  const what = slo.kind === 'availability' ? 'of the time no worker was up' : 'of the events were bad';
  const long = formatDuration(tier.long), short = formatDuration(tier.short), win = formatDuration(window);
  const burn = `{{ with query \`${RECORD.errorRatio(tier.long)}${s} / ${slo.budget}\` }}{{ . | first | value | printf "%.1f" }}{{ end }}`;
  const left = `{{ with query \`${RECORD.budgetRemaining}${s}\` }}{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}`;
  const kind = tier.severity === 'critical' ? 'page' : 'ticket';
  return {
    alert: BUDGET_BURN_ALERT,
    expr: burnExpr(t, slo, tier),
    for: formatDuration(tier.for),
    ...(tier.keepFiringFor ? { keep_firing_for: formatDuration(tier.keepFiringFor) } : {}),
    labels: { [SEVERITY_LABEL]: tier.severity, [SLO_LABEL]: slo.name, [QWENSERVICE_LABEL]: qs.metadata.name, window: long },
    annotations: {
      summary: `${t.namespace}/${qs.metadata.name}: SLO ${slo.name} burns its ${win} error budget ${tier.factor}x or faster (${kind})`,
      description:
        `Objective: ${slo.description} (budget ${formatPercent(slo.budget)} over ${win}). ` +
        `Over the last ${long} {{ $value | humanizePercentage }} ${what} (burn rate ${burn}x; this ${kind} fires above ${tier.factor}x, ` +
        `${formatPercent(tier.threshold, { significant: 4 })}, in both ${long} and ${short}, with at least ${guardText(slo, tier)} in ${long}). ` +
        `At ${tier.factor}x the whole budget lasts ${formatSeconds(window / tier.factor)}. Error budget left over ${win}: ${left}.`,
      ...linkAnnotations(links, BUDGET_BURN_ALERT),
    },
  };
}

export function guardText(slo: Slo, tier: Tier): string {
  if (tier.minBad === undefined) return `${tier.minEvents} ${slo.kind === 'availability' ? 'samples' : 'events'}`;
  return `${tier.minEvents} events and ${tier.minBad} bad`;
}

function absentAlert(qs: QwenService, t: Target, slos: Slo[], links: Links): AlertingRule {
  // With a router, only the router's series are required: it always runs, while the workers may be
  // scaled to zero (the worker-read tokens/s SLO then has no series, and that is not a fault).
  const router = t.source === 'router';
  const measured = router ? slos.filter((s) => readsRouter(t, s.kind)) : slos;
  const required = [requestCountSeries(t), ...measured.map((s) => requiredSeries(t, s)).filter((x): x is string => !!x)];
  const what = router
    ? `${ROUTER_METRIC.requestDuration} series (or no bucket at an SLO threshold) for service ${routerServiceOf(t.service)} in ` +
      `namespace ${t.namespace} for ${ABSENT_FOR}: the router is gone, not scraped (ServiceMonitor not selected by Prometheus?), ` +
      'or runs without the SLO buckets (--slo-buckets).'
    : `${METRIC.requestDuration} series (or no bucket at an SLO threshold) for service ${t.service} in ` +
      `namespace ${t.namespace} for ${ABSENT_FOR}: the workers are gone, not scraped (ServiceMonitor not selected by Prometheus?), ` +
      'or run without the SLO buckets (--slo-buckets).';
  return {
    alert: METRICS_ABSENT_ALERT,
    expr: [...new Set(required)].map((r) => `absent(${r})`).join('\nor '),
    for: ABSENT_FOR,
    labels: { [SEVERITY_LABEL]: 'warning', [QWENSERVICE_LABEL]: qs.metadata.name },
    annotations: {
      summary: `${t.namespace}/${qs.metadata.name}: SLO metrics are missing, its SLA cannot be measured`,
      description: `Prometheus has had no ${what} No QwenSLOBudgetBurn alert can fire meanwhile.`,
      ...linkAnnotations(links, METRICS_ABSENT_ALERT),
    },
  };
}

function linkAnnotations(links: Links, alert: string): Record<string, string> {
  const runbook = links.runbookURL.includes('#') ? links.runbookURL : `${links.runbookURL}#${alert.toLowerCase()}`;
  const out: Record<string, string> = { runbook_url: inertURL(runbook) };
  if (links.dashboardURL) out.dashboard = inertURL(links.dashboardURL);
  return out;
}

/**
 * A link as Prometheus can only print it: annotations are Go templates with `query`, so a brace
 * from a user's URL could run PromQL against a shared Prometheus. Braces and spaces are
 * percent-encoded (the same URL to a browser); admission refuses `{{`/`}}` already, this holds
 * for whatever reaches the compiler (operator flags, `render` of an unvalidated file).
 */
export function inertURL(url: string): string {
  return url.replace(/[{}\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}
