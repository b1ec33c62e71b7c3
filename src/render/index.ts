// Everything the operator owns for one QwenService, and the one list of kinds it may own (the
// controller derives its informers, owner mapping and RBAC from it: src/controller/watches.ts).
// Each renderer reads the resolved plan (src/plan/) and builds its own objects only: none edits
// another's output, so the order of the calls below is only the order of the list. Pure.
import type { QwenService } from '../api/qwenservice.ts';
import { kindKey } from '../kube/object.ts';
import { resolvePlan, type Plan } from '../plan/index.ts';
import { ANALYSIS_TEMPLATE, MONITORING_KINDS, OPTIONAL_KIND_KEYS, ROLLOUT, SCALED_OBJECT } from '../plan/kinds.ts';
import type { KubeObject, RenderConfig } from './common.ts';
import { INFERENCE_POOL, renderInferencePool } from './inferencepool.ts';
import { renderMonitoring } from './monitoring.ts';
import { renderNetworkPolicy, renderRouterNetworkPolicy } from './networkpolicy.ts';
import { renderRollout } from './rollout.ts';
import { ROUTER_ROLE_RULES, renderRouter } from './router.ts';
import { renderScaledObject } from './scaledobject.ts';
import { renderWorkload } from './workload.ts';

/**
 * `optional`: a CRD kind the cluster may not serve (discovered, re-checked periodically); monitoring:
 * prometheus-operator's. `first`: written before the other children, which may need it to exist.
 */
export type OwnedKind = { apiVersion: string; kind: string; plural: string; monitoring: boolean; optional?: boolean; first?: boolean };

export const OWNED_KINDS: OwnedKind[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', monitoring: false },
  { apiVersion: 'v1', kind: 'Service', plural: 'services', monitoring: false },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', monitoring: false },
  { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', monitoring: false },
  { apiVersion: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', monitoring: false },
  // The apiserver checks a RoleBinding against its Role's rules (escalation prevention): the Role must exist first.
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', plural: 'roles', monitoring: false, first: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', plural: 'rolebindings', monitoring: false },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', plural: 'networkpolicies', monitoring: false },
  ...MONITORING_KINDS.map((k) => ({ ...k, monitoring: true })),
  { ...SCALED_OBJECT, monitoring: false, optional: true },
  { ...ROLLOUT, monitoring: false, optional: true },
  { ...ANALYSIS_TEMPLATE, monitoring: false, optional: true },
  { ...INFERENCE_POOL, monitoring: false, optional: true },
];

export { kindKey };

/**
 * What the Roles the operator renders grant (the router's: the EndpointSlices it follows). The
 * apiserver lets a Role be written, and bound, only by whoever holds what it grants (RBAC
 * escalation prevention), so the operator holds these too (src/rbac.ts).
 */
export const GRANTED_RULES = ROUTER_ROLE_RULES;

const MONITORING_KIND_KEYS = new Set(MONITORING_KINDS.map(kindKey));
const FIRST_KIND_KEYS = new Set(OWNED_KINDS.filter((k) => k.first).map(kindKey));

/** A child written before the others (see OwnedKind's `first`). */
export const isWrittenFirst = (o: { apiVersion: string; kind: string }): boolean => FIRST_KIND_KEYS.has(kindKey(o));

/** A prometheus-operator object (what MonitoringReady is about). */
export const isMonitoringKind = (o: { apiVersion: string; kind: string }): boolean => MONITORING_KIND_KEYS.has(kindKey(o));

/** Which optional kinds (`kindKey`: prometheus-operator's, KEDA's ScaledObject, Argo Rollouts') the cluster serves; the rest are not rendered. */
export type RenderOptions = { servedMonitoringKinds: ReadonlySet<string> };

/** What is rendered for one QwenService, and what the spec asks for but the cluster cannot hold (its kind is not served). */
export type RenderedObjects = { objects: KubeObject[]; unserved: KubeObject[] };

/** Every object the plan asks for, split by whether the cluster serves its kind. */
export function renderPlanned(plan: Plan): RenderedObjects {
  const policies = [renderNetworkPolicy(plan.qs, plan.config, plan.router), renderRouterNetworkPolicy(plan.qs, plan.config, plan.router)].filter((o): o is KubeObject => o !== undefined);
  const scaled = renderScaledObject(plan);
  const wanted = [...renderWorkload(plan), ...renderRouter(plan), ...policies, ...renderMonitoring(plan), ...(scaled ? [scaled] : []), ...renderRollout(plan), ...renderInferencePool(plan)];
  const objects = wanted.filter((o) => plan.served(o));
  // Unserved: the autoscaler's and the rollout's first, then monitoring (the order status names them in).
  const unserved = wanted.filter((o) => !plan.served(o)).sort((a, b) => Number(isMonitoringKind(a)) - Number(isMonitoringKind(b)));
  return { objects, unserved };
}

export function renderOwned(qs: QwenService, config: RenderConfig, opts: RenderOptions = { servedMonitoringKinds: OPTIONAL_KIND_KEYS }): RenderedObjects {
  return renderPlanned(resolvePlan(qs, config, opts.servedMonitoringKinds));
}

/** Every object the operator owns for one QwenService (those of kinds the cluster serves). */
export function renderAll(qs: QwenService, config: RenderConfig, opts?: RenderOptions): KubeObject[] {
  return renderOwned(qs, config, opts).objects;
}
