// Everything the operator owns for one QwenService, and the kinds it may own (for informers,
// pruning and RBAC). Pure.
import type { QwenService } from '../api/qwenservice.ts';
import type { KubeObject, RenderConfig } from './common.ts';
import { renderMonitoring } from './monitoring.ts';
import { renderNetworkPolicy } from './networkpolicy.ts';
import { SCALED_OBJECT, autoscaledWorkload, renderScaledObject } from './scaledobject.ts';
import { renderWorkload } from './workload.ts';

/** `optional`: a CRD kind the cluster may not serve (discovered, re-checked periodically); monitoring: prometheus-operator's. */
export type OwnedKind = { apiVersion: string; kind: string; plural: string; monitoring: boolean; optional?: boolean };

export const OWNED_KINDS: OwnedKind[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', monitoring: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', monitoring: false },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', monitoring: false },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', monitoring: false },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', monitoring: false },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', plural: 'servicemonitors', monitoring: true },
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', plural: 'prometheusrules', monitoring: true },
  { apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'AlertmanagerConfig', plural: 'alertmanagerconfigs', monitoring: true },
  { ...SCALED_OBJECT, monitoring: false, optional: true },
];

export const kindKey = (o: { apiVersion: string; kind: string }): string => `${o.kind}.${o.apiVersion}`;

/** Every kind from a CRD that may be missing: rendered only when served. */
const OPTIONAL_KINDS = new Set(OWNED_KINDS.filter((k) => k.monitoring || k.optional).map(kindKey));

/** Which optional kinds (`kindKey`: prometheus-operator's, KEDA's ScaledObject) the cluster serves; the rest are not rendered. */
export type RenderOptions = { servedMonitoringKinds: ReadonlySet<string> };

export function renderAll(qs: QwenService, config: RenderConfig, opts: RenderOptions = { servedMonitoringKinds: OPTIONAL_KINDS }): KubeObject[] {
  const served = (o: KubeObject) => !OPTIONAL_KINDS.has(kindKey(o)) || opts.servedMonitoringKinds.has(kindKey(o));
  const policy = renderNetworkPolicy(qs, config);
  const scaled = [renderScaledObject(qs, config)].filter((o): o is KubeObject => o !== undefined).filter(served);
  const workload = autoscaledWorkload(qs, renderWorkload(qs, config), scaled.length > 0);
  return [...workload, ...(policy ? [policy] : []), ...renderMonitoring(qs, config).filter(served), ...scaled];
}
