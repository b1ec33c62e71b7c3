// Status of a QwenService, computed (pure) from what the caches hold. Conditions: Ready,
// Progressing, Degraded, ModelReady, MonitoringReady; reasons say what to do next.
import { redactModelSource } from '../api/model-source.ts';
import { formatSeconds } from '../api/units.ts';
import type { QwenService, QwenServiceStatus } from '../api/qwenservice.ts';
import { ConditionType, Reason } from '../conventions.ts';
import type { KubeObject, RenderConfig } from '../render/common.ts';
import { endpointOf, endpointStatus, selectorLabels } from '../render/common.ts';
import { mergeConditions, type ConditionInput } from '../kube/conditions.ts';
import { desiredReplicas, type Plan } from '../plan/index.ts';
import { diagnosePods } from './diagnose.ts';
import { readSpecReplicas } from './read.ts';
import { autoscalingStatus, type AutoscalingObserved } from './autoscaling.ts';
import { rolloutReplicas, rolloutStatus, type RolloutObserved } from './rollout.ts';

/** A QwenService as stored, before (or without) validating its spec. */
export type StoredQwenService = Pick<QwenService, 'metadata' | 'status'>;

export type Observed = {
  deployment?: KubeObject;
  /** The router's Deployment (only read with spec.router). */
  routerDeployment?: KubeObject;
  pods: KubeObject[];
  /** prometheus-operator kinds the QwenService needs but the cluster does not serve. */
  missingMonitoringKinds: string[];
  /** Whether the QwenService asks for any monitoring object at all. */
  monitoringRequested: boolean;
  /** Children that could not be written: a name taken by an object we do not control, or an apply the apiserver refused. */
  blocked?: { reason: 'OwnershipConflict' | 'ApplyFailed'; message: string };
  /** The ScaledObject (only read with spec.autoscaling). */
  autoscaling?: AutoscalingObserved;
  /** The Rollout and its step's AnalysisRun (only read with spec.rollout). */
  rollout?: RolloutObserved;
};

type DeploymentStatus = { replicas?: number; readyReplicas?: number; updatedReplicas?: number; observedGeneration?: number };

/** The part of a stored status this reconciler owns (what computeStatus produces). */
export function reconcilerOwnedStatus(status: QwenServiceStatus | undefined): QwenServiceStatus | undefined {
  if (!status) return undefined;
  const { sla: _sla, ...rest } = status;
  return { ...rest, ...(rest.conditions ? { conditions: rest.conditions.filter((c) => c.type !== ConditionType.SLACompliant) } : {}) };
}

/** `plan.qs`: the QwenService with the freshest status we know (its previous conditions). */
export function computeStatus(plan: Plan, observed: Observed, now: string): QwenServiceStatus {
  const { qs, config } = plan;
  const previous = qs.status;
  const generation = (qs.metadata as { generation?: number }).generation;
  // Under an Argo Rollout the workers are the Rollout's (Argo scales the Deployment to zero).
  const underRollout = rolloutReplicas(observed.rollout);
  const scaled = underRollout ? observed.rollout!.rollout : observed.deployment;
  // Autoscaled: what the HPA asks for now (spec.replicas is ignored then). Computed here only.
  const desired = desiredReplicas(qs, plan.scaling, readSpecReplicas(scaled));
  const dep = (underRollout ?? observed.deployment?.status ?? {}) as DeploymentStatus;
  const depGeneration = (observed.deployment?.metadata as { generation?: number } | undefined)?.generation;
  const ready = dep.readyReplicas ?? 0;
  const diagnosis = observed.blocked ? { ...observed.blocked, failure: true } : diagnosePods(observed.pods, qs.spec.gpu);

  const upToDate = underRollout ? underRollout.healthy : observed.deployment !== undefined && (dep.observedGeneration ?? 0) >= (depGeneration ?? 0);
  const rolledOut = upToDate && (dep.updatedReplicas ?? 0) >= desired && ready >= desired;
  const conditions: ConditionInput[] = [];

  if (observed.blocked) {
    conditions.push({ type: ConditionType.Ready, status: 'False', reason: observed.blocked.reason, message: observed.blocked.message });
  } else if (desired === 0) {
    const why = plan.replicas.scaleToZeroAfterSeconds !== undefined
      ? `no request for ${formatSeconds(plan.replicas.scaleToZeroAfterSeconds)}: KEDA scaled the workers to zero; the router holds the next request while a worker starts`
      : 'spec.replicas is 0';
    conditions.push({ type: ConditionType.Ready, status: 'True', reason: Reason.ScaledToZero, message: why });
  } else if (ready >= desired) {
    conditions.push({ type: ConditionType.Ready, status: 'True', reason: Reason.AllWorkersReady, message: `${ready}/${desired} workers ready` });
  } else {
    const why = diagnosis ?? { reason: observed.deployment ? Reason.WorkersStarting : Reason.Creating, message: `${ready}/${desired} workers ready` };
    conditions.push({ type: ConditionType.Ready, status: 'False', reason: why.reason, message: `${ready}/${desired} workers ready; ${why.message}` });
  }

  if (rolledOut || desired === 0) conditions.push({ type: ConditionType.Progressing, status: 'False', reason: Reason.Complete, message: 'all workers are up to date and ready' });
  else if (diagnosis?.failure) conditions.push({ type: ConditionType.Progressing, status: 'False', reason: diagnosis.reason, message: `rollout is stuck: ${diagnosis.message}` });
  else conditions.push({ type: ConditionType.Progressing, status: 'True', reason: Reason.RollingOut, message: `${dep.updatedReplicas ?? 0} updated, ${ready} ready of ${desired}` });

  conditions.push(diagnosis?.failure
    ? { type: ConditionType.Degraded, status: 'True', reason: diagnosis.reason, message: diagnosis.message }
    : { type: ConditionType.Degraded, status: 'False', reason: Reason.AsExpected, message: 'no failure observed' });

  if (ready > 0) conditions.push({ type: ConditionType.ModelReady, status: 'True', reason: Reason.ModelLoaded, message: `${redactModelSource(qs.spec.model.source)} is loaded and serving` });
  else if (diagnosis?.reason === Reason.ModelLoadFailed || diagnosis?.reason === Reason.ModelDownloading) conditions.push({ type: ConditionType.ModelReady, status: 'False', reason: diagnosis.reason, message: diagnosis.message });
  else conditions.push({ type: ConditionType.ModelReady, status: 'False', reason: Reason.WaitingForWorkers, message: diagnosis?.message ?? 'no worker has loaded the model yet' });

  if (!observed.monitoringRequested) conditions.push({ type: ConditionType.MonitoringReady, status: 'True', reason: Reason.NotRequested, message: 'no monitoring objects requested' });
  else if (observed.missingMonitoringKinds.length) {
    conditions.push({
      type: ConditionType.MonitoringReady, status: 'False', reason: Reason.PrometheusOperatorMissing,
      message: `the cluster does not serve ${observed.missingMonitoringKinds.join(', ')} (monitoring.coreos.com); install the Prometheus Operator (e.g. kube-prometheus-stack) — the workload runs meanwhile and monitoring objects are created once the CRDs appear`,
    });
  } else conditions.push({ type: ConditionType.MonitoringReady, status: 'True', reason: Reason.Configured, message: 'ServiceMonitor, rules and routing are applied' });

  const scaling = autoscalingStatus(plan, observed.autoscaling ?? {}, desired);
  if (scaling.condition) conditions.push(scaling.condition);
  const canary = rolloutStatus(plan, observed.rollout ?? {});
  if (canary.condition) conditions.push(canary.condition);
  if (plan.sizing) conditions.push(plan.sizing.condition);

  const status: QwenServiceStatus = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas: dep.replicas ?? 0,
    readyReplicas: ready,
    selector: Object.entries(selectorLabels(qs)).map(([k, v]) => `${k}=${v}`).join(','),
    ...endpointStatus(qs, config),
    ...(scaling.status ? { autoscaling: scaling.status } : {}),
    ...(canary.status ? { rollout: canary.status } : {}),
    ...(plan.router ? { router: routerStatus(plan.router.replicas, observed.routerDeployment) } : {}),
    ...(plan.sizing?.model ? { model: plan.sizing.model } : {}),
    conditions: mergeConditions(previous?.conditions, conditions, generation, now),
  };
  // SLACompliant and status.sla are the SLA status loop's (its own field manager): not ours to
  // write, so a reconcile racing with an SLA update can never put old values back.
  return status;
}

/** The router's pods as its Deployment reports them, against what spec.router asks for. */
function routerStatus(asked: number, deployment: KubeObject | undefined): NonNullable<QwenServiceStatus['router']> {
  const ready = (deployment?.status as DeploymentStatus | undefined)?.readyReplicas ?? 0;
  return { replicas: asked, readyReplicas: ready, ready: `${ready}/${asked}` };
}

/**
 * Status of a QwenService whose spec does not validate (the CRD schema should make this rare):
 * nothing is rendered from it, so only what needs no spec is reported, and every condition that
 * would describe the workload says why there is none.
 */
export function invalidSpecStatus(qs: StoredQwenService, problems: string, config: RenderConfig, now: string): QwenServiceStatus {
  return refusedStatus(qs, { reason: Reason.InvalidSpec, message: problems }, config, now);
}

/**
 * Status of a QwenService the operator applies nothing for: its spec does not validate, or it
 * asks for what the tenant limits refuse (the reason and message say which, and what to change).
 */
export function refusedStatus(qs: StoredQwenService, refusal: { reason: string; message: string }, config: RenderConfig, now: string): QwenServiceStatus {
  const generation = (qs.metadata as { generation?: number }).generation;
  const { reason, message } = refusal;
  const conditions: ConditionInput[] = [
    { type: ConditionType.Ready, status: 'False', reason, message },
    { type: ConditionType.Progressing, status: 'False', reason, message: `rollout is stuck: ${message}` },
    { type: ConditionType.Degraded, status: 'True', reason, message },
    { type: ConditionType.ModelReady, status: 'False', reason: Reason.WaitingForWorkers, message },
    { type: ConditionType.MonitoringReady, status: 'True', reason: Reason.NotRequested, message: 'no monitoring objects requested' },
  ];
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    replicas: 0,
    readyReplicas: 0,
    selector: Object.entries(selectorLabels(qs)).map(([k, v]) => `${k}=${v}`).join(','),
    endpoint: endpointOf(qs, config),
    conditions: mergeConditions(qs.status?.conditions, conditions, generation, now),
  };
}
