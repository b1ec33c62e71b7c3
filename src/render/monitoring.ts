// Every monitoring object the operator owns for one QwenService: ServiceMonitor, PrometheusRule,
// AlertmanagerConfig and the dashboard ConfigMap, each only when the spec asks for it. Pure.
import type { Plan } from '../plan/index.ts';
import { renderAlertmanagerConfig } from './alertmanagerconfig.ts';
import type { KubeObject } from './common.ts';
import { renderDashboard } from './dashboard.ts';
import { renderPrometheusRule } from './prometheusrule.ts';
import { renderServiceMonitor } from './servicemonitor.ts';

export function renderMonitoring(plan: Plan): KubeObject[] {
  return [renderServiceMonitor(plan), renderPrometheusRule(plan), renderAlertmanagerConfig(plan.qs), renderDashboard(plan)].filter((o): o is KubeObject => o !== undefined);
}
