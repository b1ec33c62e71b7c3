// Status of a QwenService, computed (pure) from what the caches hold. Conditions: Ready,
// Progressing, Degraded, ModelReady, MonitoringReady; reasons say what to do next.
import type { QwenService, QwenServiceStatus } from '../api/qwenservice.ts';
import type { KubeObject, RenderConfig } from '../render/common.ts';
import { endpointStatus, selectorLabels } from '../render/common.ts';
import { mergeConditions, type ConditionInput } from './conditions.ts';
import { diagnosePods } from './diagnose.ts';
import { autoscalingStatus, desiredReplicas, type AutoscalingObserved } from './autoscaling.ts';

export type Observed = {
  deployment?: KubeObject;
  pods: KubeObject[];
  /** prometheus-operator kinds the QwenService needs but the cluster does not serve. */
  missingMonitoringKinds: string[];
  /** Whether the QwenService asks for any monitoring object at all. */
  monitoringRequested: boolean;
  /** Set when the spec cannot be rendered (the CRD schema should make this rare). */
  invalidSpec?: string;
  /** Children that could not be written: a name taken by an object we do not control, or an apply the apiserver refused. */
  blocked?: { reason: 'OwnershipConflict' | 'ApplyFailed'; message: string };
  /** KEDA and Prometheus availability and the ScaledObject (only read with spec.autoscaling). */
  autoscaling?: AutoscalingObserved;
};

type DeploymentStatus = { replicas?: number; readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number };

/** The part of a stored status this reconciler owns (what computeStatus produces). */
export function reconcilerOwnedStatus(status: QwenServiceStatus | undefined): QwenServiceStatus | undefined {
  if (!status) return undefined;
  const { sla: _sla, ...rest } = status;
  return { ...rest, ...(rest.conditions ? { conditions: rest.conditions.filter((c) => c.type !== SLA_CONDITION) } : {}) };
}

export const SLA_CONDITION = 'SLACompliant';

export function computeStatus(qs: QwenService, observed: Observed, config: RenderConfig, now: string): QwenServiceStatus {
  const previous = qs.status;
  const generation = (qs.metadata as { generation?: number }).generation;
  // Autoscaled: what the HPA asks for now (spec.replicas is ignored then).
  const desired = desiredReplicas(qs, observed.deployment);
  const dep = (observed.deployment?.status ?? {}) as DeploymentStatus;
  const depGeneration = (observed.deployment?.metadata as { generation?: number } | undefined)?.generation;
  const ready = dep.readyReplicas ?? 0;
  const diagnosis = observed.invalidSpec
    ? { reason: 'InvalidSpec', message: observed.invalidSpec, failure: true }
    : observed.blocked ? { ...observed.blocked, failure: true } : diagnosePods(observed.pods, qs.spec.gpu);

  const rolledOut = observed.deployment !== undefined && (dep.observedGeneration ?? 0) >= (depGeneration ?? 0) && (dep.updatedReplicas ?? 0) >= desired && ready >= desired;
  const conditions: ConditionInput[] = [];

  if (observed.invalidSpec) {
    conditions.push({ type: 'Ready', status: 'False', reason: 'InvalidSpec', message: observed.invalidSpec });
  } else if (observed.blocked) {
    conditions.push({ type: 'Ready', status: 'False', reason: observed.blocked.reason, message: observed.blocked.message });
  } else if (desired === 0) {
    conditions.push({ type: 'Ready', status: 'True', reason: 'ScaledToZero', message: 'spec.replicas is 0' });
  } else if (ready >= desired) {
    conditions.push({ type: 'Ready', status: 'True', reason: 'AllWorkersReady', message: `${ready}/${desired} workers ready` });
  } else {
    const why = diagnosis ?? { reason: observed.deployment ? 'WorkersStarting' : 'Creating', message: `${ready}/${desired} workers ready` };
    conditions.push({ type: 'Ready', status: 'False', reason: why.reason, message: `${ready}/${desired} workers ready; ${why.message}` });
  }

  if (rolledOut || desired === 0) conditions.push({ type: 'Progressing', status: 'False', reason: 'Complete', message: 'all workers are up to date and ready' });
  else if (diagnosis?.failure) conditions.push({ type: 'Progressing', status: 'False', reason: diagnosis.reason, message: `rollout is stuck: ${diagnosis.message}` });
  else conditions.push({ type: 'Progressing', status: 'True', reason: 'RollingOut', message: `${dep.updatedReplicas ?? 0} updated, ${ready} ready of ${desired}` });

  conditions.push(diagnosis?.failure
    ? { type: 'Degraded', status: 'True', reason: diagnosis.reason, message: diagnosis.message }
    : { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'no failure observed' });

  if (ready > 0) conditions.push({ type: 'ModelReady', status: 'True', reason: 'ModelLoaded', message: `${qs.spec.model.source} is loaded and serving` });
  else if (diagnosis?.reason === 'ModelLoadFailed' || diagnosis?.reason === 'ModelDownloading') conditions.push({ type: 'ModelReady', status: 'False', reason: diagnosis.reason, message: diagnosis.message });
  else conditions.push({ type: 'ModelReady', status: 'False', reason: 'WaitingForWorkers', message: diagnosis?.message ?? 'no worker has loaded the model yet' });

  if (!observed.monitoringRequested) conditions.push({ type: 'MonitoringReady', status: 'True', reason: 'NotRequested', message: 'no monitoring objects requested' });
  else if (observed.missingMonitoringKinds.length) {
    conditions.push({
      type: 'MonitoringReady', status: 'False', reason: 'PrometheusOperatorMissing',
      message: `the cluster does not serve ${observed.missingMonitoringKinds.join(', ')} (monitoring.coreos.com); install the Prometheus Operator (e.g. kube-prometheus-stack) — the workload runs meanwhile and monitoring objects are created once the CRDs appear`,
    });
  } else conditions.push({ type: 'MonitoringReady', status: 'True', reason: 'Configured', message: 'ServiceMonitor, rules and routing are applied' });

  const scaling = autoscalingStatus(qs, observed.autoscaling ?? { kedaServed: false, prometheusURL: false }, observed.deployment);
  if (scaling.condition) conditions.push(scaling.condition);

  const status: QwenServiceStatus = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas: dep.replicas ?? 0,
    readyReplicas: ready,
    selector: Object.entries(selectorLabels(qs)).map(([k, v]) => `${k}=${v}`).join(','),
    ...endpointStatus(qs, config),
    ...(scaling.status ? { autoscaling: scaling.status } : {}),
    conditions: mergeConditions(previous?.conditions, conditions, generation, now),
  };
  // SLACompliant and status.sla are the SLA status loop's (its own field manager): not ours to
  // write, so a reconcile racing with an SLA update can never put old values back.
  return status;
}
