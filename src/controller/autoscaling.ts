// The AutoscalingReady condition and status.autoscaling, from the plan (whether the cluster serves
// KEDA's ScaledObject, whether the operator knows a Prometheus) and what the caches hold: the
// ScaledObject's own conditions (KEDA writes Ready when its scalers work, Active when a trigger
// is above its activation value). Pure.
import type { QwenServiceStatus } from '../api/qwenservice.ts';
import { ConditionType, Reason } from '../conventions.ts';
import type { KubeObject } from '../kube/object.ts';
import type { ConditionInput } from '../kube/conditions.ts';
import type { Plan } from '../plan/index.ts';
import { SCALED_OBJECT } from '../plan/kinds.ts';
import { readScaledObjectConditions, type KedaCondition } from './read.ts';

export type AutoscalingObserved = { scaledObject?: KubeObject };


/** `desired`: the worker count the HPA chose (status.ts computes it once, from what runs the pods). */
export function autoscalingStatus(p: Plan, observed: AutoscalingObserved, desired: number): { condition?: ConditionInput; status?: QwenServiceStatus['autoscaling'] } {
  const { qs, scaling: plan } = p;
  if (!plan) return {};
  const status = { minReplicas: plan.minReplicas, maxReplicas: plan.maxReplicas, desiredReplicas: desired };
  const type = ConditionType.AutoscalingReady;
  if (!p.served(SCALED_OBJECT)) {
    return {
      status,
      condition: {
        type, status: 'False', reason: Reason.KEDAMissing,
        message: `the cluster does not serve scaledobjects.keda.sh; install KEDA (https://keda.sh) — the workers run at minReplicas (${plan.minReplicas}) meanwhile, and the ScaledObject is created once KEDA appears`,
      },
    };
  }
  if (!p.config.prometheusURL) {
    return {
      status,
      condition: {
        type, status: 'False', reason: Reason.PrometheusURLMissing,
        message: `the operator has no Prometheus address for the autoscaling triggers; set --prometheus-url (chart value prometheusURL) — the workers run at minReplicas (${plan.minReplicas}) meanwhile`,
      },
    };
  }
  const conditions = readScaledObjectConditions(observed.scaledObject);
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
