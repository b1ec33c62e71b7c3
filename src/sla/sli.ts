// The SLIs as PromQL: for one SLO over one window, the share of bad events (bad time for
// availability) and the number of events, either straight from the measured series (raw) or from
// the series the SLO rules record. The measured series are the workers', or with a router (the
// plan's SliSource) the router's for what clients see: latency, TTFT, errors and availability; the
// recorded series keep the QwenService's labels either way, so their readers do not change. Rules, the status loop, the dashboard, the autoscaler's triggers
// and rollout gates all take their PromQL from here, so a page, a status line and a scale-out agree
// on what "bad" means. Sums are `sum by (namespace, service)` before dividing: one series per SLO
// and window, never one per pod, and a worker restart (counter reset) is absorbed by
// rate()/increase() on each pod's series before the sum. Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { formatDuration } from '../api/units.ts';
import { leRegex } from './le.ts';
import type { Slo, SloKind } from './slos.ts';
import { namespaceOf } from '../kube/object.ts';
import { LABEL, METRIC, NOT_SERVICE_FAULT } from '../../worker/src/contract.ts';
import { ROUTER_METRIC } from '../../router/src/contract.ts';

// The worker's histograms (the worker <-> operator contract).
export const REQUEST_DURATION = METRIC.requestDuration;
export const TTFT = METRIC.timeToFirstToken;
export const TPOT = METRIC.timePerOutputToken;

/** The level (first part) of every series the SLO rules record: `qwen_slo:*`. */
export const RECORD_LEVEL = 'qwen_slo';

/** Names of the recorded series (labels: namespace, service, slo). */
export const RECORD = {
  errorRatio: (w: number) => `${RECORD_LEVEL}:sli_error:ratio_rate${formatDuration(w)}`,
  events: (w: number) => `${RECORD_LEVEL}:sli_events:increase${formatDuration(w)}`,
  badEvents5m: `${RECORD_LEVEL}:sli_bad_events:increase5m`,
  budget: `${RECORD_LEVEL}:error_budget:ratio`,
  budgetRemaining: `${RECORD_LEVEL}:error_budget_remaining:ratio`,
  /** Best target's `up` (1 while at least one worker is up); labels namespace, service. */
  upMax: `${RECORD_LEVEL}:up:max`,
} as const;

/**
 * Whose series measure what clients see: the workers' (no router), or the router's (spec.router:
 * measured at the client's side of the router, hold time and retries included). The router has no
 * time-per-output-token histogram: the tokens/s SLO reads the workers' either way, and so do canary
 * gates (a canary is judged on its own workers), the queue trigger and per-replica views.
 */
export type SliSource = 'worker' | 'router';

/**
 * The `service` label of the router's series: its ServiceMonitor scrapes the router pods' admin
 * port through the Service of this name, so prometheus-operator labels every router series with it.
 */
export const routerServiceOf = (name: string) => `${name}-router`;

/**
 * One QwenService's series: `namespace` and `service` are the labels its worker ServiceMonitor puts
 * on every worker target, and the labels of every series the SLO rules record; `source` (default
 * worker) says whose series the client-side SLIs read.
 */
export type Target = { namespace: string; service: string; source?: SliSource };

export function targetOf(qs: QwenService, source: SliSource = 'worker'): Target {
  return { namespace: namespaceOf(qs), service: qs.metadata.name, ...(source === 'router' ? { source } : {}) };
}

/** SLO kinds the router measures (its histograms are the worker's request duration and TTFT). */
const ROUTER_KINDS: ReadonlySet<SloKind> = new Set<SloKind>(['latency', 'ttft', 'errors', 'availability']);

/** Whether an SLO of this kind reads the router's series for this target. */
export function readsRouter(t: Target, kind: SloKind): boolean {
  return t.source === 'router' && ROUTER_KINDS.has(kind);
}

/** The labels of the series an SLO of this kind reads: the router's Service, or the workers'. */
function seriesAt(t: Target, kind: SloKind): Target {
  return readsRouter(t, kind) ? { namespace: t.namespace, service: routerServiceOf(t.service) } : { namespace: t.namespace, service: t.service };
}

/** One PromQL label matcher; its value is escaped when written, so any string is safe here. */
export type LabelMatcher = { label: string; op: '=' | '!=' | '=~' | '!~'; value: string };

export function matcher(label: string, op: LabelMatcher['op'], value: string): LabelMatcher {
  return { label, op, value };
}

const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

/** `{a="…",b!~"…"}`: the matchers in order, values escaped. */
export function labelSelector(...matchers: LabelMatcher[]): string {
  return `{${matchers.map((m) => `${m.label}${m.op}"${esc(m.value)}"`).join(',')}}`;
}

/** `{namespace="…",service="…",…}`: the service's series, narrowed by the matchers in order. */
export function selector(t: Target, ...matchers: LabelMatcher[]): string {
  return labelSelector(matcher('namespace', '=', t.namespace), matcher('service', '=', t.service), ...matchers);
}

/** The service's recorded series of one SLO. */
export function sloSelector(t: Target, slo: Slo): string {
  return selector(t, matcher('slo', '=', slo.name));
}

/** The aggregation every SLI sum keeps: one series per service. */
export const BY = 'namespace, service';

export type HistogramKind = Extract<SloKind, 'latency' | 'ttft' | 'tokens'>;

/** Requests the service answers for, and those among them that failed through its fault. */
const counted = matcher(LABEL.errorType, '!~', NOT_SERVICE_FAULT.join('|'));
const failed = matcher(LABEL.errorType, '!~', `|${NOT_SERVICE_FAULT.join('|')}`);

/** The events an SLO counts: which series' `_count`, narrowed how, at which labels. Errors count the requests latency counts. */
function population(t: Target, kind: Exclude<SloKind, 'availability'>): { metric: string; matchers: LabelMatcher[]; at: Target } {
  const router = readsRouter(t, kind);
  const at = seriesAt(t, kind);
  if (kind === 'latency' || kind === 'errors') return { metric: router ? ROUTER_METRIC.requestDuration : REQUEST_DURATION, matchers: [counted], at };
  if (kind === 'ttft') return { metric: router ? ROUTER_METRIC.timeToFirstToken : TTFT, matchers: [], at };
  return { metric: TPOT, matchers: [], at };
}

/** The good-bucket matcher of a histogram SLO (the SLO's threshold, any spelling of it). */
function leMatcher(slo: Slo): LabelMatcher {
  return matcher('le', '=~', leRegex(slo.threshold!));
}

type Fn = 'rate' | 'increase';
type EventSlo = Slo & { kind: Exclude<SloKind, 'availability'> };

function total(t: Target, slo: EventSlo, fn: Fn, range: string, extra: LabelMatcher[]): string {
  const { metric, matchers, at } = population(t, slo.kind);
  return `sum by (${BY}) (${fn}(${metric}_count${selector(at, ...matchers, ...extra)}[${range}]))`;
}

function good(t: Target, slo: EventSlo, fn: Fn, range: string, extra: LabelMatcher[]): string {
  const { metric, matchers, at } = population(t, slo.kind);
  return `sum by (${BY}) (${fn}(${metric}_bucket${selector(at, ...matchers, leMatcher(slo), ...extra)}[${range}]))`;
}

function failures(t: Target, fn: Fn, range: string, extra: LabelMatcher[]): string {
  const { metric, at } = population(t, 'errors');
  return `sum by (${BY}) (${fn}(${metric}_count${selector(at, failed, ...extra)}[${range}]))`;
}

/** One SLI over one window as two PromQL expressions, each one series per service (or none). */
export type Sli = {
  /** Share of bad events (bad time for availability): 0 is perfect. Empty without traffic. */
  badRatio: string;
  /** Events counted (requests; samples of `up` for availability). */
  events: string;
};

/**
 * The SLI over `window` seconds straight from the worker's series and `up`: needs no recording
 * rule. `extra` narrows every series read, e.g. to a canary's pods
 * (`matcher('rollouts_pod_template_hash', '=', 'abc')`). Availability here is the best target's
 * share of time up, which equals the recorded "at least one target up" while targets come and go
 * together; the exact form needs max(up) over time, a subquery too costly over a 30d window.
 */
export function rawSli(t: Target, slo: Slo, window: number, extra: LabelMatcher[] = []): Sli {
  const range = formatDuration(window);
  if (slo.kind === 'availability') {
    const up = `up${selector(seriesAt(t, 'availability'), ...extra)}[${range}]`;
    return { badRatio: `1 - max by (${BY}) (avg_over_time(${up}))`, events: `max by (${BY}) (count_over_time(${up}))` };
  }
  const s = slo as EventSlo;
  const events = total(t, s, 'increase', range, extra);
  if (s.kind === 'errors') {
    const all = total(t, s, 'rate', range, extra);
    // `or 0 * all`: a missing failure series means no failures, not "no data".
    return { badRatio: `(\n  ${failures(t, 'rate', range, extra)}\n  or 0 * ${all}\n)\n/\n${all}`, events };
  }
  return { badRatio: `1 - (\n  ${good(t, s, 'rate', range, extra)}\n  /\n  ${total(t, s, 'rate', range, extra)}\n)`, events };
}

/** The SLI over `window` seconds as the SLO rules record it (present only where Prometheus loads them, for the windows they record). */
export function recordedSli(t: Target, slo: Slo, window: number): Sli {
  const s = sloSelector(t, slo);
  return { badRatio: `${RECORD.errorRatio(window)}${s}`, events: `${RECORD.events(window)}${s}` };
}

/** The `q` quantile of a histogram over `window` seconds. For dashboards and status, never for paging. */
export function quantileExpr(t: Target, histogram: HistogramKind, q: number, window: number, extra: LabelMatcher[] = []): string {
  const { metric, matchers, at } = population(t, histogram);
  return `histogram_quantile(${q}, sum by (le) (rate(${metric}_bucket${selector(at, ...matchers, ...extra)}[${formatDuration(window)}])))`;
}

// What the SLO rules record. The event SLOs record their raw SLI; availability is recorded exactly
// ("at least one target up") from the recorded best target's `up`. A rule that reads the router's
// series sums them under the router's `service` label: it records under the QwenService's
// (recordedLabels), so alerts, status, triggers and the dashboard read one name whatever the source.

/** The labels a recording rule that reads an SLO of this kind sets on what it records (besides its own). */
export function recordedLabels(t: Target, kind: SloKind): Record<string, string> {
  return readsRouter(t, kind) ? { service: t.service } : {};
}

/** The rule body of RECORD.upMax. */
export function upMaxRecordingExpr(t: Target): string {
  return `max by (${BY}) (up${selector(seriesAt(t, 'availability'))})`;
}

/** The rule bodies of RECORD.errorRatio(window) and RECORD.events(window). */
export function sliRecordingExprs(t: Target, slo: Slo, window: number): Sli {
  if (slo.kind !== 'availability') return rawSli(t, slo, window);
  const range = formatDuration(window);
  return { badRatio: `1 - avg_over_time(${RECORD.upMax}${selector(t)}[${range}])`, events: `count_over_time(${RECORD.upMax}${selector(t)}[${range}])` };
}

/** The rule body of RECORD.badEvents5m (event SLOs): feeds the SLA-window ratio without a 30d range over raw histograms. */
export function badEvents5mRecordingExpr(t: Target, slo: Slo): string {
  const s = slo as EventSlo;
  const all = total(t, s, 'increase', '5m', []);
  if (s.kind === 'errors') return `${failures(t, 'increase', '5m', [])}\nor 0 * ${all}`;
  return `${all}\n- ${good(t, s, 'increase', '5m', [])}`;
}

/**
 * The rule body of RECORD.errorRatio(slaWindow). Event SLOs: the sums of the recorded 5m bad and
 * total counts (both over-count by the same factor, 5m / evaluation interval, which cancels in the
 * ratio); reading 30 days of raw buckets at every evaluation would cost far more.
 */
export function slaWindowRecordingExpr(t: Target, slo: Slo, slaWindow: number): string {
  if (slo.kind === 'availability') return sliRecordingExprs(t, slo, slaWindow).badRatio;
  const range = formatDuration(slaWindow);
  const s = sloSelector(t, slo);
  return `sum_over_time(${RECORD.badEvents5m}${s}[${range}])\n/\nsum_over_time(${RECORD.events(300)}${s}[${range}])`;
}

/** The series a histogram SLO cannot be measured without (its threshold's bucket); undefined for the others. */
export function requiredSeries(t: Target, slo: Slo): string | undefined {
  if (slo.kind === 'availability' || slo.kind === 'errors') return undefined;
  const { metric, at } = population(t, slo.kind);
  return `${metric}_bucket${selector(at, leMatcher(slo))}`;
}

/** The request counter every event SLO but tokens/s counts from: its absence means the SLA is not measured. */
export function requestCountSeries(t: Target): string {
  const { metric, at } = population(t, 'latency');
  return `${metric}_count${selector(at)}`;
}
