// The AutoscalingReady condition and status.autoscaling, from what the caches hold: whether the
// cluster serves KEDA's ScaledObject, whether the operator knows a Prometheus, and the
// ScaledObject's own conditions (KEDA writes Ready when its scalers work, Active when a trigger
// is above its activation value). Pure.
import type { QwenService, QwenServiceStatus } from '../api/qwenservice.ts';
import { ConditionType, Reason } from '../conventions.ts';
import type { KubeObject } from '../render/common.ts';
import { scalingPlan } from '../render/scaledobject.ts';
import type { ConditionInput } from '../kube/conditions.ts';

export type AutoscalingObserved = {
  /** The cluster serves scaledobjects.keda.sh. */
  kedaServed: boolean;
  /** The operator was given a Prometheus address (--prometheus-url). */
  prometheusURL: boolean;
  scaledObject?: KubeObject;
};

type KedaCondition = { type: string; status?: string; reason?: string; message?: string };

/** Workers the QwenService asks for now: the HPA's choice (the Deployment's spec.replicas) when autoscaled. */
export function desiredReplicas(qs: QwenService, deployment: KubeObject | undefined): number {
  const plan = scalingPlan(qs);
  if (!plan) return qs.spec.replicas;
  const replicas = (deployment?.spec as { replicas?: number } | undefined)?.replicas;
  return typeof replicas === 'number' ? replicas : plan.minReplicas;
}

export function autoscalingStatus(qs: QwenService, observed: AutoscalingObserved, deployment: KubeObject | undefined): { condition?: ConditionInput; status?: QwenServiceStatus['autoscaling'] } {
  const plan = scalingPlan(qs);
  if (!plan) return {};
  const status = { minReplicas: plan.minReplicas, maxReplicas: plan.maxReplicas, desiredReplicas: desiredReplicas(qs, deployment) };
  const type = ConditionType.AutoscalingReady;
  if (!observed.kedaServed) {
    return {
      status,
      condition: {
        type, status: 'False', reason: Reason.KEDAMissing,
        message: `the cluster does not serve scaledobjects.keda.sh; install KEDA (https://keda.sh) — the workers run at minReplicas (${plan.minReplicas}) meanwhile, and the ScaledObject is created once KEDA appears`,
      },
    };
  }
  if (!observed.prometheusURL) {
    return {
      status,
      condition: {
        type, status: 'False', reason: Reason.PrometheusURLMissing,
        message: `the operator has no Prometheus address for the autoscaling triggers; set --prometheus-url (chart value prometheusURL) — the workers run at minReplicas (${plan.minReplicas}) meanwhile`,
      },
    };
  }
  const conditions = ((observed.scaledObject?.status as { conditions?: KedaCondition[] } | undefined)?.conditions) ?? [];
  const ready = conditions.find((c) => c.type === 'Ready');
  const active = conditions.find((c) => c.type === 'Active');
  if (!ready || ready.status === 'Unknown' || ready.status === undefined) {
    return { status, condition: { type, status: 'Unknown', reason: Reason.WaitingForKEDA, message: `ScaledObject ${qs.metadata.name} is not reconciled by KEDA yet (is the KEDA operator running?)` } };
  }
  const text = (c: KedaCondition | undefined) => (c ? `${c.type}=${c.status}${c.reason ? `/${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}` : '');
  const message = `ScaledObject ${qs.metadata.name}: ${[text(ready), text(active)].filter(Boolean).join('; ')}`;
  if (ready.status !== 'True') return { status, condition: { type, status: 'False', reason: ready.reason || Reason.ScaledObjectNotReady, message } };
  return { status, condition: { type, status: 'True', reason: active?.status === 'True' ? Reason.ScalerActive : Reason.ScalerIdle, message } };
}
