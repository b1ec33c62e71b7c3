// Everything the operator owns for one QwenService, and the one list of kinds it may own (the
// controller derives its informers, owner mapping and RBAC from it: src/controller/watches.ts). Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { kindKey } from '../kube/object.ts';
import type { KubeObject, RenderConfig } from './common.ts';
import { renderMonitoring } from './monitoring.ts';
import { renderNetworkPolicy } from './networkpolicy.ts';
import { ANALYSIS_TEMPLATE, ROLLOUT, renderRollout, rolloutWorkload } from './rollout.ts';
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
  { ...ROLLOUT, monitoring: false, optional: true },
  { ...ANALYSIS_TEMPLATE, monitoring: false, optional: true },
];

export { kindKey };

/** Every kind from a CRD that may be missing: rendered only when served. */
const OPTIONAL_KINDS = new Set(OWNED_KINDS.filter((k) => k.monitoring || k.optional).map(kindKey));

const MONITORING_KINDS = new Set(OWNED_KINDS.filter((k) => k.monitoring).map(kindKey));

/** A prometheus-operator object (what MonitoringReady is about). */
export const isMonitoringKind = (o: { apiVersion: string; kind: string }): boolean => MONITORING_KINDS.has(kindKey(o));

/** Which optional kinds (`kindKey`: prometheus-operator's, KEDA's ScaledObject, Argo Rollouts') the cluster serves; the rest are not rendered. */
export type RenderOptions = {
  servedMonitoringKinds: ReadonlySet<string>;
  /** The worker's memory request and limit when the spec sets none: the sizing estimate (src/sizing/plan.ts), once the model's head is known. */
  workerMemory?: string;
};

/** What is rendered for one QwenService, and what the spec asks for but the cluster cannot hold (its kind is not served). */
export type RenderedObjects = { objects: KubeObject[]; unserved: KubeObject[] };

export function renderOwned(qs: QwenService, config: RenderConfig, opts: RenderOptions = { servedMonitoringKinds: OPTIONAL_KINDS }): RenderedObjects {
  const unserved: KubeObject[] = [];
  const keepServed = (objects: KubeObject[]) => objects.filter((o) => {
    const served = !OPTIONAL_KINDS.has(kindKey(o)) || opts.servedMonitoringKinds.has(kindKey(o));
    if (!served) unserved.push(o);
    return served;
  });
  const policy = renderNetworkPolicy(qs, config);
  const scaled = keepServed([renderScaledObject(qs, config)].filter((o): o is KubeObject => o !== undefined));
  const workload = autoscaledWorkload(qs, renderWorkload(qs, config, opts.workerMemory), scaled.length > 0);
  // Argo Rollouts runs the workers when it is served (and a Prometheus is known); otherwise a plain rolling update.
  const rollout = keepServed(renderRollout(qs, config));
  const rolloutApplied = rollout.some((o) => o.kind === ROLLOUT.kind);
  const objects = [...rolloutWorkload([...workload, ...(policy ? [policy] : []), ...keepServed(renderMonitoring(qs, config)), ...scaled], rolloutApplied), ...rollout];
  return { objects, unserved };
}

/** Every object the operator owns for one QwenService (those of kinds the cluster serves). */
export function renderAll(qs: QwenService, config: RenderConfig, opts?: RenderOptions): KubeObject[] {
  return renderOwned(qs, config, opts).objects;
}
