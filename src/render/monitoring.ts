// Every monitoring object the operator owns for one QwenService: ServiceMonitor, PrometheusRule,
// AlertmanagerConfig and the dashboard ConfigMap, each only when the spec asks for it. Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { renderAlertmanagerConfig } from './alertmanagerconfig.ts';
import type { KubeObject, RenderConfig } from './common.ts';
import { renderDashboard } from './dashboard.ts';
import { renderPrometheusRule } from './prometheusrule.ts';
import { renderServiceMonitor } from './servicemonitor.ts';

export function renderMonitoring(qs: QwenService, config: RenderConfig): KubeObject[] {
  return [renderServiceMonitor(qs), renderPrometheusRule(qs, config), renderAlertmanagerConfig(qs), renderDashboard(qs)].filter((o): o is KubeObject => o !== undefined);
}
