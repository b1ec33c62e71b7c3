// The Grafana dashboard of one QwenService, shipped as a ConfigMap labelled
// grafana_dashboard: "1" (the Grafana sidecar of kube-prometheus-stack loads those). Queries read
// only the worker's series and the SLO rules' recorded series. Pure.
import { createHash } from 'node:crypto';
import type { QwenService } from '../api/qwenservice.ts';
import { formatDuration } from '../api/units.ts';
import { ALERT_NAME_LABEL, NAMESPACE_LABEL, OPERATOR_NAME, QWENSERVICE_LABEL } from '../conventions.ts';
import { RECORD, REQUEST_DURATION, labelSelector, matcher, quantileExpr, selector, targetOf, type HistogramKind } from '../sla/sli.ts';
import type { Plan } from '../plan/index.ts';
import { LABEL, METRIC } from '../../worker/src/contract.ts';
import { childMeta, namespaceOf, type KubeObject } from './common.ts';
import { tenantPanels } from './dashboard-tenants.ts';

/**
 * Namespaces and QwenService names are DNS labels: they never contain `_`, so joining them with it
 * keeps distinct (namespace, name) pairs distinct (`team-a`/`llm` and `team`/`a-llm` no longer meet
 * in `team-a-llm`). Grafana uids allow `_` too.
 */
const PAIR_SEPARATOR = '_';
const GRAFANA_UID_MAX = 40;
/** 64 bits of SHA-256: a collision among the pairs of one cluster is out of reach. */
const PAIR_HASH_HEX = 16;

/**
 * The dashboard's Grafana uid, one per (namespace, name) in the cluster, at most 40 characters:
 * `qwen_<namespace>_<name>` when that fits, else `qwen-<hash of the pair>-<start of the name>`
 * (no `_`, so the two forms never meet; the hash tells long pairs apart).
 */
export function dashboardUid(qs: QwenService): string {
  const readable = ['qwen', namespaceOf(qs), qs.metadata.name].join(PAIR_SEPARATOR);
  if (readable.length <= GRAFANA_UID_MAX) return readable;
  const digest = createHash('sha256').update(`${namespaceOf(qs)}/${qs.metadata.name}`).digest('hex').slice(0, PAIR_HASH_HEX);
  return `qwen-${digest}-${qs.metadata.name}`.slice(0, GRAFANA_UID_MAX);
}

/**
 * The dashboard's file name: the Grafana sidecar writes every labelled ConfigMap's keys into one
 * folder, so the key must be unique in the cluster, not just in the namespace.
 */
export function dashboardFileName(qs: QwenService): string {
  return `${['qwen', namespaceOf(qs), qs.metadata.name].join(PAIR_SEPARATOR)}.json`;
}

export type Panel = { title: string; type: 'timeseries' | 'stat' | 'table'; unit: string; targets: { expr: string; legend: string }[]; description?: string };

/** Every panel of the dashboard, in order (exported so tests can check each query). */
export function dashboardPanels(plan: Plan): Panel[] {
  const { qs } = plan;
  const t = targetOf(qs);
  const sel = selector(t);
  const { window } = plan.sla;
  const win = formatDuration(window);
  // Latency and TTFT as clients see them (the router's series with one); the rest per worker.
  const q = (histogram: HistogramKind, p: number) => quantileExpr(targetOf(qs, plan.sla.source), histogram, p, 300);
  const panels: Panel[] = [];
  if (qs.spec.sla) {
    panels.push(
      { title: `SLI over ${win} (share good)`, type: 'stat', unit: 'percentunit', targets: [{ expr: `1 - ${RECORD.errorRatio(window)}${sel}`, legend: '{{slo}}' }] },
      { title: `Error budget left (${win})`, type: 'stat', unit: 'percentunit', targets: [{ expr: `${RECORD.budgetRemaining}${sel}`, legend: '{{slo}}' }] },
      {
        title: 'Burn rate (1h and 5m)', type: 'timeseries', unit: 'x',
        description: '1 spends the budget exactly over the SLA window; pages start at the tier factors shown by `qwen-operator render --explain`.',
        targets: [
          { expr: `${RECORD.errorRatio(3600)}${sel} / ${RECORD.budget}${sel}`, legend: '{{slo}} 1h' },
          { expr: `${RECORD.errorRatio(300)}${sel} / ${RECORD.budget}${sel}`, legend: '{{slo}} 5m' },
        ],
      },
      { title: 'SLO alerts firing', type: 'table', unit: 'none', targets: [{ expr: `ALERTS${labelSelector(matcher(ALERT_NAME_LABEL, '=~', 'QwenSLO.*'), matcher('alertstate', '=', 'firing'), matcher(NAMESPACE_LABEL, '=', t.namespace), matcher(QWENSERVICE_LABEL, '=', t.service))}`, legend: '{{slo}} {{severity}} {{window}}' }] },
    );
  }
  panels.push(
    { title: 'Request latency', type: 'timeseries', unit: 's', targets: [0.5, 0.95, 0.99].map((p) => ({ expr: q('latency', p), legend: `p${p * 100}` })) },
    { title: 'Time to first token', type: 'timeseries', unit: 's', targets: [0.5, 0.95, 0.99].map((p) => ({ expr: q('ttft', p), legend: `p${p * 100}` })) },
    {
      title: 'Output tokens/s', type: 'timeseries', unit: 'none',
      targets: [
        { expr: `sum(rate(${METRIC.generatedTokens}${sel}[5m]))`, legend: 'service total' },
        { expr: `1 / ${q('tokens', 0.5)}`, legend: 'per request, median' },
        { expr: `1 / ${q('tokens', 0.95)}`, legend: 'per request, slowest 5%' },
      ],
    },
    { title: 'Requests per second', type: 'timeseries', unit: 'reqps', targets: [{ expr: `sum(rate(${REQUEST_DURATION}_count${sel}[5m]))`, legend: 'all' }] },
    {
      title: 'Requests running / waiting', type: 'timeseries', unit: 'none',
      targets: [
        { expr: `sum(${METRIC.requestsRunning}${sel})`, legend: 'running' },
        { expr: `sum(${METRIC.requestsWaiting}${sel})`, legend: 'waiting' },
      ],
    },
    { title: 'Errors by type', type: 'timeseries', unit: 'reqps', targets: [{ expr: `sum by (${LABEL.errorType}) (rate(${REQUEST_DURATION}_count${selector(t, matcher(LABEL.errorType, '!=', ''))}[5m]))`, legend: `{{${LABEL.errorType}}}` }] },
    {
      title: 'Memory', type: 'timeseries', unit: 'bytes',
      targets: [
        { expr: `${METRIC.residentMemory}${sel}`, legend: '{{pod}} RSS' },
        { expr: `${METRIC.gpuMemoryUsed}${sel}`, legend: '{{pod}} GPU' },
      ],
    },
    {
      title: 'Workers up / model load time', type: 'timeseries', unit: 'none',
      targets: [
        { expr: `sum(up${sel})`, legend: 'targets up' },
        { expr: `max by (pod) (${METRIC.modelLoadDuration}${sel})`, legend: '{{pod}} load s' },
      ],
    },
  );
  panels.push(...tenantPanels(plan));
  return panels;
}

/** The dashboard model (Grafana JSON), `grafana` format of `render`. */
export function renderDashboardJson(plan: Plan): Record<string, unknown> {
  const { qs } = plan;
  const panels = dashboardPanels(plan).map((p, i) => ({
    id: i + 1,
    title: p.title,
    type: p.type,
    ...(p.description ? { description: p.description } : {}),
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
    targets: p.targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legend, datasource: { type: 'prometheus', uid: '${datasource}' } })),
  }));
  return {
    uid: dashboardUid(qs),
    title: `QwenService ${namespaceOf(qs)}/${qs.metadata.name}`,
    tags: [OPERATOR_NAME, 'llm', 'slo'],
    timezone: 'browser',
    schemaVersion: 39,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source' }] },
    panels,
  };
}

export function renderDashboard(plan: Plan): KubeObject | undefined {
  const { qs } = plan;
  if (qs.spec.monitoring?.dashboard === false) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMeta(qs, `${qs.metadata.name}-dashboard`, { labels: { grafana_dashboard: '1' } }),
    data: { [dashboardFileName(qs)]: JSON.stringify(renderDashboardJson(plan), null, 2) },
  };
}
