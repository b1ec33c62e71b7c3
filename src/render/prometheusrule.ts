// The PrometheusRule (monitoring.coreos.com/v1) carrying the SLO rules compiled from the SLA
// block; absent without an SLA (the reconciler then prunes it).
import type { QwenService } from '../api/qwenservice.ts';
import { compileSla, type Links } from '../sla/rules.ts';
import type { Plan } from '../plan/index.ts';
import { childMeta, type KubeObject, type RenderConfig } from './common.ts';
import { dashboardUid } from './dashboard.ts';

/** Runbook and dashboard links of the alerts: the QwenService's own, else the operator's. */
export function linksOf(qs: QwenService, config: RenderConfig): Links {
  const a = qs.spec.alerting;
  const links: Links = { runbookURL: a?.runbookURL ?? config.runbookBaseURL };
  const grafana = a?.dashboardURL ?? config.grafanaURL;
  if (grafana) links.dashboardURL = `${grafana.replace(/\/+$/, '')}/d/${dashboardUid(qs)}`;
  return links;
}

export function renderPrometheusRule(plan: Plan): KubeObject | undefined {
  const { qs, config } = plan;
  if (!qs.spec.sla) return undefined;
  const { groups } = compileSla(qs, linksOf(qs, config), plan.sla);
  if (!groups.length) return undefined;
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: childMeta(qs, qs.metadata.name, { labels: qs.spec.monitoring?.ruleLabels ?? {} }),
    spec: { groups },
  };
}
