// The resolved plan of one QwenService: what it means, decided once per reconcile (and once per
// `render`) from the QwenService, the operator's config and the kinds the cluster serves. Every
// renderer, status, `render --explain`, the replica hand-off and the events read it; none of them
// re-derives a part of it or edits another's output. Pure.
//
// To extend it, add one field here and read it where it is used (as `sizing` and `router` are).
import type { QwenService } from '../api/qwenservice.ts';
import { kindKey } from '../kube/object.ts';
import { gatePlan, type GatePlan } from '../sla/gates.ts';
import { normalizeSla, type NormalizedSla } from '../sla/slos.ts';
import type { SliSource } from '../sla/sli.ts';
import type { HeaderState } from '../sizing/header-cache.ts';
import { planSizing, type SizingPlan } from '../sizing/plan.ts';
import type { RenderConfig } from './config.ts';
import { OPTIONAL_KIND_KEYS, ROLLOUT_KEY, SCALED_OBJECT_KEY } from './kinds.ts';
import { replicaPlan, type ReplicaPlan } from './replicas.ts';
import { routerPlan, type RouterPlan } from './router.ts';
import { scalingPlan, type ScalingPlan } from './scaling.ts';

/** An optional object: not asked for, asked for but its kind is not served (or no Prometheus to query), or applied. */
export type Presence = 'absent' | 'unserved' | 'applied';

export type Plan = {
  qs: QwenService;
  config: RenderConfig;
  /** spec.sla with every unit parsed: the SLOs everything else works from. */
  sla: NormalizedSla;
  /** spec.autoscaling resolved; absent without it. */
  scaling?: ScalingPlan;
  /** spec.rollout's canary gate; absent without it. */
  gate?: GatePlan;
  /** The ScaledObject (spec.autoscaling and a Prometheus to query) and the Rollout with its AnalysisTemplates (spec.rollout and a Prometheus). */
  objects: { scaledObject: Presence; rollout: Presence };
  /** Who owns the worker count, and what that means for each object carrying one. */
  replicas: ReplicaPlan;
  /** Whether the cluster serves a kind (the built-in ones always). */
  served: (o: { apiVersion: string; kind: string }) => boolean;
  /** SLAFeasible, status.model and the worker's default memory from the model's header; absent when the operator runs without sizing. */
  sizing?: SizingPlan;
  /** spec.router resolved: the router in front of the workers; absent without it (the Service selects the workers). */
  router?: RouterPlan;
};

/** What the reconciler's header cache (an async read) knows of the model, and the CPU path's memory bandwidth. */
export type HeaderInput = { header: HeaderState | undefined; cpuBandwidthGBps: number };

/**
 * Whose series the client-side SLIs read: the router's when the QwenService has one (spec.router),
 * the workers' otherwise. The one place that decides it.
 */
export function sliSourceOf(qs: QwenService): SliSource {
  return qs.spec.router !== undefined ? 'router' : 'worker';
}

/** The SLA part of the plan: spec.sla normalized, as the alerts, the scaling, the gate and the SLA status loop read it. */
export function planSla(qs: QwenService): NormalizedSla {
  return normalizeSla(qs.spec.sla, sliSourceOf(qs));
}

/**
 * `served`: the optional kinds (kindKey) the cluster serves; every one of them when not given (`render`).
 * `header`: what is known of the model's header; none: no sizing (no SLAFeasible, the spec's memory only).
 * `routerReady`: whether a router pod is ready (the reconciler observes it; `render` assumes so).
 */
export function resolvePlan(qs: QwenService, config: RenderConfig, served: ReadonlySet<string> = OPTIONAL_KIND_KEYS, header?: HeaderInput, routerReady = true): Plan {
  const isServed = (o: { apiVersion: string; kind: string }) => !OPTIONAL_KIND_KEYS.has(kindKey(o)) || served.has(kindKey(o));
  const presence = (asked: boolean, key: string): Presence => (!asked || !config.prometheusURL ? 'absent' : served.has(key) ? 'applied' : 'unserved');
  const sla = planSla(qs);
  const scaling = scalingPlan(qs, sla.slos);
  const gate = gatePlan(qs, sla.slos);
  const objects = { scaledObject: presence(scaling !== undefined, SCALED_OBJECT_KEY), rollout: presence(gate !== undefined, ROLLOUT_KEY) };
  const router = routerPlan(qs, config, routerReady);
  const replicas = replicaPlan({ qs, ...(scaling ? { scaling } : {}), scaledObject: objects.scaledObject === 'applied', rollout: objects.rollout === 'applied', router: router !== undefined });
  const sizing = header ? planSizing(qs, header.header, header.cpuBandwidthGBps) : undefined;
  return { qs, config, sla, ...(scaling ? { scaling } : {}), ...(gate ? { gate } : {}), objects, replicas, served: isServed, ...(sizing ? { sizing } : {}), ...(router ? { router } : {}) };
}

export type { RenderConfig } from './config.ts';
export { defaultRenderConfig } from './config.ts';
export { desiredReplicas, REPLICA_OWNERS, type ReplicaOwnerName, type ReplicaPlan } from './replicas.ts';
export type { ScalingPlan } from './scaling.ts';
export type { RouterPlan } from './router.ts';
export type { SizingPlan } from '../sizing/plan.ts';
export type { GatePlan } from '../sla/gates.ts';
export type { NormalizedSla } from '../sla/slos.ts';
