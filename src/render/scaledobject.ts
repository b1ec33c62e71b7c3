// spec.autoscaling -> a KEDA ScaledObject (KEDA turns it into an HPA on the worker Deployment and
// feeds the HPA from Prometheus), and what autoscaling changes in the workload. Pure.
//
// How the HPA arithmetic gives the behaviour the API promises (the HPA takes the largest of the
// replica counts its metrics propose; within 10% of a target it keeps the current count):
// - queue (AverageValue, target = targetInFlightPerReplica): desired = ceil(in-flight / target).
// - SLO burn (Value, target = 1): desired = ceil(current x burn). Above 1 it scales out in
//   proportion to the burn; at >= 0.9 it proposes at least `current`, and since the HPA takes the
//   max over metrics, a quiet queue cannot scale in while an SLO burns: the burn holds the line.
// - behaviour: scale-up immediately (double, or +4 pods, every 15s); scale-in only after the load
//   has stayed lower for scaleDownStabilization, then at most half the pods a minute.
import type { QwenService } from '../api/qwenservice.ts';
import { parseDuration } from '../api/units.ts';
import { AUTOSCALER_COMPONENT, LABEL_COMPONENT, REPLICAS_ANNOTATION } from '../conventions.ts';
import { targetOf } from '../sla/sli.ts';
import { burnQuery, queueQuery, scalingSlos, SCALING_BURN_WINDOW_TEXT, MIN_BURN_EVENTS } from '../sla/triggers.ts';
import { childMeta, namespaceOf, type KubeObject, type RenderConfig } from './common.ts';
import { renderPodDisruptionBudget } from './workload.ts';

export const SCALED_OBJECT = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', plural: 'scaledobjects' } as const;
export const SCALED_OBJECT_KEY = `${SCALED_OBJECT.kind}.${SCALED_OBJECT.apiVersion}`;
export const QUEUE_TRIGGER = 'queue';
export const BURN_TRIGGER = 'slo-burn';
/** How often KEDA asks Prometheus (seconds): a scrape interval, so each poll may see new data. */
export const POLLING_INTERVAL_S = 15;
const SCALE_UP = { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }] };
const SCALE_DOWN_POLICY = { type: 'Percent', value: 50, periodSeconds: 60 };

/** What autoscaling resolves to for one QwenService (the API's defaults applied). */
export type ScalingPlan = {
  minReplicas: number;
  maxReplicas: number;
  targetInFlightPerReplica: number;
  /** SLOs whose burn scales out (empty: scaleOnSLOBurn is off or there are none). */
  burnSlos: string[];
  scaleDownStabilizationSeconds: number;
};

export function scalingPlan(qs: QwenService): ScalingPlan | undefined {
  const a = qs.spec.autoscaling;
  if (!a) return undefined;
  const slos = scalingSlos(qs.spec.sla);
  return {
    minReplicas: a.minReplicas,
    maxReplicas: a.maxReplicas,
    targetInFlightPerReplica: a.targetInFlightPerReplica ?? qs.spec.model.parallel,
    // Default on exactly when there is something to burn; explicit true with no such SLO is a no-op.
    burnSlos: (a.scaleOnSLOBurn ?? true) ? slos.map((s) => s.name) : [],
    scaleDownStabilizationSeconds: parseDuration(a.scaleDownStabilization),
  };
}

/** The ScaledObject, or undefined without spec.autoscaling or without a Prometheus address. */
export function renderScaledObject(qs: QwenService, config: RenderConfig): KubeObject | undefined {
  const plan = scalingPlan(qs);
  if (!plan || !config.prometheusURL) return undefined;
  const t = targetOf(qs);
  const trigger = (name: string, metricType: string, query: string, threshold: number) => ({
    type: 'prometheus',
    name,
    metricType,
    metadata: {
      serverAddress: config.prometheusURL!,
      query,
      threshold: String(threshold),
      // No series (no worker scraped yet, no traffic in the burn window) reads as 0, not an error.
      ignoreNullValues: 'true',
    },
  });
  const triggers = [trigger(QUEUE_TRIGGER, 'AverageValue', queueQuery(t), plan.targetInFlightPerReplica)];
  const burn = burnQuery(t, scalingSlos(qs.spec.sla).filter((s) => plan.burnSlos.includes(s.name)));
  if (burn) triggers.push(trigger(BURN_TRIGGER, 'Value', burn, 1));
  return {
    apiVersion: SCALED_OBJECT.apiVersion,
    kind: SCALED_OBJECT.kind,
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: AUTOSCALER_COMPONENT } }),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: qs.metadata.name },
      pollingInterval: POLLING_INTERVAL_S,
      minReplicaCount: plan.minReplicas,
      maxReplicaCount: plan.maxReplicas,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            scaleUp: SCALE_UP,
            scaleDown: { stabilizationWindowSeconds: plan.scaleDownStabilizationSeconds, selectPolicy: 'Max', policies: [SCALE_DOWN_POLICY] },
          },
        },
      },
      triggers,
    },
  };
}

/**
 * The workload under autoscaling. With the ScaledObject applied (KEDA served, Prometheus known)
 * the Deployment carries no spec.replicas at all, so our field manager does not own it and the
 * HPA's (or a `kubectl scale`) value survives every resync. Without it nothing else would scale,
 * so the Deployment runs minReplicas. The PodDisruptionBudget follows maxReplicas: whether there
 * may be more than one pod, not how many there are now.
 */
export function autoscaledWorkload(qs: QwenService, objects: KubeObject[], scaledObjectApplied: boolean): KubeObject[] {
  const plan = scalingPlan(qs);
  if (!plan) return objects;
  const out = objects.map((o) => {
    if (o.kind !== 'Deployment' || o.apiVersion !== 'apps/v1') return o;
    const { replicas: _ignored, ...spec } = o.spec as Record<string, unknown>;
    // The annotation makes the switch visible to the "already applied?" check: dropping a field
    // alone never triggers an apply, and only an apply releases our claim on spec.replicas.
    const metadata = { ...o.metadata, annotations: { ...o.metadata.annotations, [REPLICAS_ANNOTATION]: scaledObjectApplied ? 'autoscaler' : 'minReplicas' } };
    return { ...o, metadata, spec: scaledObjectApplied ? spec : { replicas: plan.minReplicas, ...spec } };
  });
  const hasPdb = out.some((o) => o.kind === 'PodDisruptionBudget');
  const pdb = plan.maxReplicas > 1 ? renderPodDisruptionBudget({ ...qs, spec: { ...qs.spec, replicas: plan.maxReplicas } }) : undefined;
  if (pdb && !hasPdb) out.push(pdb);
  return plan.maxReplicas > 1 ? out : out.filter((o) => o.kind !== 'PodDisruptionBudget');
}

/** `render --explain`: the scaling rules in words. */
export function explainScaling(qs: QwenService, config: RenderConfig): string {
  const plan = scalingPlan(qs);
  const name = `${namespaceOf(qs)}/${qs.metadata.name}`;
  if (!plan) return `${name}: no autoscaling; spec.replicas = ${qs.spec.replicas} workers.\n`;
  const stab = `${plan.scaleDownStabilizationSeconds}s`;
  const lines = [
    `${name}: autoscaled by KEDA between ${plan.minReplicas} and ${plan.maxReplicas} workers (spec.replicas is ignored); Prometheus ${config.prometheusURL ?? '(none configured: no ScaledObject, the workers stay at minReplicas)'} polled every ${POLLING_INTERVAL_S}s.`,
    `  queue:    scale out when running + waiting requests exceed ${plan.targetInFlightPerReplica} per worker; desired = ceil(in-flight / ${plan.targetInFlightPerReplica}).`,
  ];
  if (plan.burnSlos.length) {
    lines.push(
      `  SLO burn: scale out when the ${SCALING_BURN_WINDOW_TEXT} burn rate of ${plan.burnSlos.join(', ')} is above 1 (the budget would run out before the SLA window ends); desired = ceil(current x burn), counted once ${MIN_BURN_EVENTS} requests are in the window.`,
      '            while any of them burns at 0.9 or more, no scale-in (the HPA takes the largest proposal).',
    );
  } else {
    const why = qs.spec.autoscaling?.scaleOnSLOBurn === false ? 'scaleOnSLOBurn is false' : 'the SLA has no latency, TTFT or tokens/s objective';
    lines.push(`  SLO burn: off (${why}).`);
  }
  lines.push(
    '  up:       at once: up to double the workers (or +4) every 15s, capped at maxReplicas.',
    `  down:     only after the proposals stayed lower for ${stab} (scaleDownStabilization), then at most half the workers per minute, never below ${plan.minReplicas}.`,
  );
  return lines.join('\n') + '\n';
}
