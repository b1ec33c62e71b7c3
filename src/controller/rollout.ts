// The RolloutGated condition and status.rollout, from what the operator reads: whether the
// cluster serves Argo Rollouts, whether it knows a Prometheus, the Rollout's status, and the
// AnalysisRun of the current step (the measured values behind a rollback). Pure.
import type { QwenServiceStatus } from '../api/qwenservice.ts';
import { namespaceOf, type KubeObject } from '../kube/object.ts';
import { readAnalysisRun, readRollout, type CanaryStep, type MetricResult } from './read.ts';
import type { ConditionInput } from '../kube/conditions.ts';
import { formatPercent } from '../api/units.ts';
import type { Plan } from '../plan/index.ts';
import { ROLLOUT } from '../plan/kinds.ts';
import type { GatePlan } from '../sla/gates.ts';
import { budgetTemplateName } from '../plan/names.ts';
import { ConditionType, IGNORE_BUDGET_ANNOTATION, Reason } from '../conventions.ts';

export type RolloutObserved = {
  rollout?: KubeObject;
  /** The AnalysisRun named in the Rollout's status for the current step. */
  analysisRun?: KubeObject;
};

/** The numbers of an Argo measurement value: `[0.52]`, `0.52`, `[]`. */
export function measuredValues(value: string | undefined): number[] {
  return (value ?? '').replace(/[[\]]/g, '').split(/[\s,]+/).filter(Boolean).map(Number).filter((n) => !Number.isNaN(n));
}

const lastMeasured = (r: MetricResult) => measuredValues(r.measurements?.at(-1)?.value)[0];

/** Which SLOs failed the canary, with what the canary measured against what the gate allows (the plan's threshold). */
export function failedGates(run: KubeObject | undefined, gate: GatePlan): string[] {
  return readAnalysisRun(run).metricResults.filter((r) => r.phase === 'Failed').map((r) => {
    const value = lastMeasured(r);
    const max = gate.checks.find((c) => c.slo.name === r.name)?.maxBadShare;
    if (value === undefined) return `${r.name} failed${r.message ? ` (${r.message})` : ''}`;
    return `${r.name}: ${formatPercent(value, { significant: 3 })} of the canary's requests were bad${max !== undefined ? `, more than the ${formatPercent(max, { significant: 3 })} allowed` : ''}`;
  });
}

/** SLOs whose remaining budget the budget check last measured at or below zero. */
function spentBudgets(run: KubeObject | undefined): string[] {
  return readAnalysisRun(run).metricResults
    .filter((r) => { const v = lastMeasured(r); return v !== undefined && v <= 0; })
    .map((r) => `${r.name} (${formatPercent(lastMeasured(r)!, { significant: 3 })} left)`);
}

/** AnalysisTemplates the current step runs (Argo names the run after the Rollout, not the template). */
function currentStepTemplates(steps: CanaryStep[], index: number | undefined): string[] {
  const step = index === undefined ? undefined : steps[index];
  return (step?.analysis?.templates ?? []).map((t) => t.templateName);
}

/** "step 3/7: setWeight 25". */
function stepText(steps: CanaryStep[], index: number | undefined): string | undefined {
  if (index === undefined || !steps.length) return undefined;
  if (index >= steps.length) return `${steps.length}/${steps.length}: done`;
  const step = steps[index]!;
  const detail = step.setWeight !== undefined ? `setWeight ${step.setWeight}`
    : step.pause ? `pause ${step.pause.duration ?? ''}`.trim()
      : step.analysis ? `analysis ${step.analysis.templates.map((t) => t.templateName).join(',')}` : '?';
  return `${index + 1}/${steps.length}: ${detail}`;
}

export function rolloutStatus(plan: Plan, observed: RolloutObserved): { condition?: ConditionInput; status?: QwenServiceStatus['rollout'] } {
  const { qs, gate } = plan;
  if (!gate) return {};
  const type = ConditionType.RolloutGated;
  if (!plan.served(ROLLOUT)) {
    return { condition: { type, status: 'False', reason: Reason.ArgoRolloutsMissing, message: 'the cluster does not serve rollouts.argoproj.io; install Argo Rollouts (docs/rollouts.md) — until then a change rolls every worker at once (plain rolling update), ungated' } };
  }
  if (!plan.config.prometheusURL) {
    return { condition: { type, status: 'False', reason: Reason.PrometheusURLMissing, message: 'the operator has no Prometheus address for the rollout gate; set --prometheus-url (chart value prometheusURL) — until then a change rolls every worker at once, ungated' } };
  }
  const rollout = observed.rollout;
  const { status: rs, steps } = readRollout(rollout);
  if (!rollout || !rs.phase) {
    return { condition: { type, status: 'Unknown', reason: Reason.WaitingForArgoRollouts, message: `Rollout ${qs.metadata.name} has no status yet (is the Argo Rollouts controller running?)` } };
  }
  // After an abort Argo resets the step index: no step to show.
  const step = rs.abort ? undefined : stepText(steps, rs.currentStepIndex);
  const status = { phase: rs.abort ? 'Aborted' : rs.phase, ...(step ? { step } : {}), ...(rs.message ? { message: rs.message } : {}), ...(rs.stableRS ? { stableHash: rs.stableRS } : {}) };
  const run = observed.analysisRun;
  if (rs.abort) {
    const failed = failedGates(run, gate);
    if (failed.length) {
      return { status, condition: { type, status: 'False', reason: Reason.CanaryFailedSLO, message: `canary rolled back: ${failed.join('; ')}; every worker is back on the stable version (change the spec again to retry)` } };
    }
    return { status, condition: { type, status: 'False', reason: Reason.RolloutAborted, message: `rollout aborted: ${rs.message ?? 'by a person or Argo'}; every worker is back on the stable version` } };
  }
  const spent = currentStepTemplates(steps, rs.currentStepIndex).includes(budgetTemplateName(qs)) ? spentBudgets(run) : [];
  if (spent.length) {
    return { status, condition: { type, status: 'False', reason: Reason.BudgetExhausted, message: `rollout waits: the error budget is spent for ${spent.join(', ')}; it starts when the budget recovers, or annotate ${IGNORE_BUDGET_ANNOTATION}="true" to let it through` } };
  }
  if (rs.phase === 'Paused' && rs.pauseConditions?.some((p) => p.reason === 'InconclusiveAnalysis')) {
    return { status, condition: { type, status: 'False', reason: Reason.CanaryInconclusive, message: `too few canary requests to judge the step${step ? ` (${step})` : ''}; promote or abort it by hand: kubectl argo rollouts promote|abort ${qs.metadata.name} -n ${namespaceOf(qs)}` } };
  }
  if (rs.phase === 'Degraded') {
    return { status, condition: { type, status: 'False', reason: Reason.RolloutDegraded, message: rs.message ?? 'the Rollout is degraded' } };
  }
  if (rs.phase === 'Progressing' || rs.phase === 'Paused') {
    return { status, condition: { type, status: 'True', reason: Reason.CanaryProgressing, message: `canary ${step ? `at step ${step}` : 'starting'}${rs.message ? `: ${rs.message}` : ''}` } };
  }
  return { status, condition: { type, status: 'True', reason: Reason.Healthy, message: `every worker runs the current version${rs.message ? ` (${rs.message})` : ''}` } };
}

/** The pods the Rollout runs (the Deployment is scaled to zero under it); undefined until Argo has written a status. */
export function rolloutReplicas(observed: RolloutObserved | undefined): { replicas: number; readyReplicas: number; updatedReplicas: number; healthy: boolean } | undefined {
  if (!observed?.rollout) return undefined;
  const rs = readRollout(observed.rollout).status;
  if (!rs.phase) return undefined;
  return { replicas: rs.replicas ?? 0, readyReplicas: rs.availableReplicas ?? rs.readyReplicas ?? 0, updatedReplicas: rs.updatedReplicas ?? 0, healthy: rs.phase === 'Healthy' && !rs.abort };
}

/**
 * A canary's promotion (worth an Event): the stable version changed from one we had seen to
 * another. Not a first deploy (there was no stable version), nor a rollback (the stable one stays).
 */
export function promoted(previous: QwenServiceStatus['rollout'], next: QwenServiceStatus['rollout']): boolean {
  return !!previous?.stableHash && !!next?.stableHash && previous.stableHash !== next.stableHash;
}

/** The newest Failed AnalysisRun of this Rollout (Argo labels them with the version's pod-template hash). */
export function lastFailed(runs: KubeObject[], rolloutUid: string | undefined): KubeObject | undefined {
  const created = (r: KubeObject) => String((r.metadata as { creationTimestamp?: string }).creationTimestamp);
  return runs
    .filter((r) => readAnalysisRun(r).phase === 'Failed' && (!rolloutUid || r.metadata.ownerReferences?.some((o) => o.uid === rolloutUid)))
    .sort((a, b) => created(a).localeCompare(created(b)))
    .at(-1);
}
