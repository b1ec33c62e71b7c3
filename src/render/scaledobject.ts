// spec.autoscaling -> a KEDA ScaledObject (KEDA turns it into an HPA on what runs the workers, the
// plan's scale target, and feeds the HPA from Prometheus). Pure. What autoscaling changes in the
// workload (who owns the count) is the plan's (src/plan/replicas.ts), not this file's.
//
// How the HPA arithmetic gives the behaviour the API promises (the HPA takes the largest of the
// replica counts its metrics propose; within 10% of a target it keeps the current count):
// - queue (AverageValue, target = targetInFlightPerReplica): desired = ceil(in-flight / target).
// - SLO burn (Value, target = 1): desired = ceil(current x burn). Above 1 it scales out in
//   proportion to the burn; at >= 0.9 it proposes at least `current`, and since the HPA takes the
//   max over metrics, a quiet queue cannot scale in while an SLO burns: the burn holds the line.
// - behaviour: scale-up immediately (double, or +4 pods, every 15s); scale-in only after the load
//   has stayed lower for scaleDownStabilization, then at most half the pods a minute.
import { formatSeconds } from '../api/units.ts';
import { AUTOSCALER_COMPONENT, LABEL_COMPONENT } from '../conventions.ts';
import { SCALED_OBJECT } from '../plan/kinds.ts';
import type { Plan } from '../plan/index.ts';
import { targetOf } from '../sla/sli.ts';
import { burnQuery, queueQuery, SCALING_BURN_WINDOW_TEXT, MIN_BURN_EVENTS } from '../sla/triggers.ts';
import { childMeta, namespaceOf, type KubeObject } from './common.ts';
import { SCALER_TARGET_KEY } from '../../router/src/contract.ts';

export const QUEUE_TRIGGER = 'queue';
export const BURN_TRIGGER = 'slo-burn';
/** spec.router: KEDA's external-push scaler on the router (its in-flight + held requests over all replicas). */
export const ROUTER_TRIGGER = 'router';
/** How often KEDA asks Prometheus (seconds): a scrape interval, so each poll may see new data. */
export const POLLING_INTERVAL_S = 15;
const SCALE_UP = { stabilizationWindowSeconds: 0, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }, { type: 'Pods', value: 4, periodSeconds: 15 }] };
const SCALE_DOWN_POLICY = { type: 'Percent', value: 50, periodSeconds: 60 };

/** The ScaledObject, or undefined without spec.autoscaling or without a Prometheus address. */
export function renderScaledObject(p: Plan): KubeObject | undefined {
  const { qs, config, scaling: plan } = p;
  if (!plan || p.objects.scaledObject === 'absent') return undefined;
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
  const burn = burnQuery(t, plan.burnSlos);
  const all: Record<string, unknown>[] = [...triggers];
  if (burn) all.push(trigger(BURN_TRIGGER, 'Value', burn, 1));
  // Pushed, not polled: a request held at zero activates the workers at once, without waiting for
  // a scrape and a polling interval. The router reads `targetInFlight` (SCALER_TARGET_KEY) as the per-worker target.
  // Only once a router is ready to answer KEDA's first question (RouterPlan.scalerReady says why).
  if (p.router?.scalerReady) all.push({ type: 'external-push', name: ROUTER_TRIGGER, metricType: 'AverageValue', metadata: { scalerAddress: p.router.scalerAddress, [SCALER_TARGET_KEY]: String(plan.targetInFlightPerReplica) } });
  // Zero needs the push trigger: without it nothing would wake the workers for a held request.
  const zeroAfter = p.router && !p.router.scalerReady ? undefined : p.replicas.scaleToZeroAfterSeconds;
  return {
    apiVersion: SCALED_OBJECT.apiVersion,
    kind: SCALED_OBJECT.kind,
    metadata: childMeta(qs, qs.metadata.name, { labels: { [LABEL_COMPONENT]: AUTOSCALER_COMPONENT } }),
    spec: {
      scaleTargetRef: { apiVersion: p.replicas.scaleTarget.apiVersion, kind: p.replicas.scaleTarget.kind, name: qs.metadata.name },
      pollingInterval: POLLING_INTERVAL_S,
      // Zero only where the plan says KEDA may go there (a router holds requests meanwhile).
      minReplicaCount: zeroAfter !== undefined ? 0 : Math.max(1, plan.minReplicas),
      ...(zeroAfter !== undefined ? { cooldownPeriod: zeroAfter } : {}),
      maxReplicaCount: plan.maxReplicas,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            scaleUp: SCALE_UP,
            scaleDown: { stabilizationWindowSeconds: plan.scaleDownStabilizationSeconds, selectPolicy: 'Max', policies: [SCALE_DOWN_POLICY] },
          },
        },
      },
      triggers: all,
    },
  };
}

/** `render --explain`: the scaling rules in words. */
export function explainScaling(p: Plan): string {
  const { qs, config, scaling: plan } = p;
  const name = `${namespaceOf(qs)}/${qs.metadata.name}`;
  if (!plan) return `${name}: no autoscaling; spec.replicas = ${qs.spec.replicas} workers.\n`;
  const stab = `${plan.scaleDownStabilizationSeconds}s`;
  const lines = [
    `${name}: autoscaled by KEDA between ${plan.minReplicas} and ${plan.maxReplicas} workers (spec.replicas is ignored); Prometheus ${config.prometheusURL ?? '(none configured: no ScaledObject, the workers stay at minReplicas)'} polled every ${POLLING_INTERVAL_S}s.`,
    `  queue:    scale out when running + waiting requests exceed ${plan.targetInFlightPerReplica} per worker; desired = ceil(in-flight / ${plan.targetInFlightPerReplica}).`,
  ];
  if (plan.burnSlos.length) {
    lines.push(
      `  SLO burn: scale out when the ${SCALING_BURN_WINDOW_TEXT} burn rate of ${plan.burnSlos.map((s) => s.name).join(', ')} is above 1 (the budget would run out before the SLA window ends); desired = ceil(current x burn), counted once ${MIN_BURN_EVENTS} requests are in the window.`,
      '            while any of them burns at 0.9 or more, no scale-in (the HPA takes the largest proposal).',
    );
  } else {
    const why = qs.spec.autoscaling?.scaleOnSLOBurn === false ? 'scaleOnSLOBurn is false' : 'the SLA has no latency, TTFT or tokens/s objective';
    lines.push(`  SLO burn: off (${why}).`);
  }
  if (p.router) lines.push(`  router:   scale out when the routers' in-flight + held requests exceed ${plan.targetInFlightPerReplica} per worker, pushed to KEDA at once (external scaler ${p.router.scalerAddress}).`);
  // Zero needs the push trigger: without it nothing would wake the workers for a held request.
  const zeroAfter = p.router && !p.router.scalerReady ? undefined : p.replicas.scaleToZeroAfterSeconds;
  if (zeroAfter !== undefined) {
    lines.push(`  zero:     after ${formatSeconds(zeroAfter)} without a request (scaleToZeroAfter) KEDA removes the last worker; the next request is held by the router (up to ${formatSeconds(p.router!.holdTimeoutSeconds)}) while KEDA starts one.`);
  } else if (plan.minReplicas === 0) {
    lines.push('  zero:     not while KEDA or Prometheus is missing, or under a Rollout: at least 1 worker runs.');
  }
  lines.push(
    '  up:       at once: up to double the workers (or +4) every 15s, capped at maxReplicas.',
    `  down:     only after the proposals stayed lower for ${stab} (scaleDownStabilization), then at most half the workers per minute, never below ${Math.max(1, plan.minReplicas)}.`,
  );
  return lines.join('\n') + '\n';
}
