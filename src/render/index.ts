// Everything the operator owns for one QwenService, and the kinds it may own (for informers,
// pruning and RBAC). Pure.
import type { QwenService } from '../api/qwenservice.ts';
import type { KubeObject, RenderConfig } from './common.ts';
import { renderMonitoring } from './monitoring.ts';
import { renderWorkload } from './workload.ts';

export type OwnedKind = { apiVersion: string; kind: string; plural: string; monitoring: boolean };

export const OWNED_KINDS: OwnedKind[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', monitoring: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', monitoring: false },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', monitoring: false },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', monitoring: false },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', plural: 'servicemonitors', monitoring: true },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', plural: 'prometheusrules', monitoring: true },
  { apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'AlertmanagerConfig', plural: 'alertmanagerconfigs', monitoring: true },
];

export const kindKey = (o: { apiVersion: string; kind: string }): string => `${o.kind}.${o.apiVersion}`;

const PROMETHEUS_OPERATOR_KINDS = new Set(OWNED_KINDS.filter((k) => k.monitoring).map(kindKey));

/** Which prometheus-operator kinds (`kindKey`) the cluster serves; the rest are not rendered. */
export type RenderOptions = { servedMonitoringKinds: ReadonlySet<string> };

export function renderAll(qs: QwenService, config: RenderConfig, opts: RenderOptions = { servedMonitoringKinds: PROMETHEUS_OPERATOR_KINDS }): KubeObject[] {
  const served = (o: KubeObject) => !PROMETHEUS_OPERATOR_KINDS.has(kindKey(o)) || opts.servedMonitoringKinds.has(kindKey(o));
  return [...renderWorkload(qs, config), ...renderMonitoring(qs, config).filter(served)];
}
