// RolloutGated and status.rollout from the Rollout's and the AnalysisRun's status, as Argo Rollouts
// v1.10 writes them (shapes taken from the e2e run: test/e2e/rollout.test.ts). Pure.
import { describe, expect, it } from '@jest/globals';
import { parseQwenService } from '../../../src/api/validate.ts';
import { defaultRenderConfig, type KubeObject } from '../../../src/render/common.ts';
import { renderRollout } from '../../../src/render/rollout.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { failedGates, lastFailed, measuredValues, promoted, rolloutReplicas, rolloutStatus } from '../../../src/controller/rollout.ts';

const qs = parseQwenService({
  apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'chat', namespace: 'team-a', uid: 'u1' },
  spec: { sla: { latency: { p95: '3s' }, timeToFirstToken: { p95: '1s' } }, rollout: { canary: { weight: 50, analysis: '1m' } } },
});
const withPrometheus = { ...defaultRenderConfig, prometheusURL: 'http://prom:9090' };
const plan = resolvePlan(qs, withPrometheus);
const rendered = renderRollout(plan)[0]!;
const withStatus = (status: Record<string, unknown>): KubeObject => ({ ...rendered, status });
const observed = (rollout?: KubeObject, analysisRun?: KubeObject) => ({ ...(rollout ? { rollout } : {}), ...(analysisRun ? { analysisRun } : {}) });
const run = (metricResults: unknown[], metrics: unknown[] = []): KubeObject => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', metadata: { name: 'chat-6d9f-2-3', namespace: 'team-a' }, spec: { metrics }, status: { phase: 'Failed', metricResults } });

describe('RolloutGated', () => {
  it('absent without spec.rollout', () => {
    const plain = parseQwenService({ apiVersion: 'qwenops.io/v1alpha1', kind: 'QwenService', metadata: { name: 'x' }, spec: {} });
    expect(rolloutStatus(resolvePlan(plain, withPrometheus), observed())).toEqual({});
  });

  it('ArgoRolloutsMissing and PrometheusURLMissing say what happens instead (an ungated rolling update)', () => {
    expect(rolloutStatus(resolvePlan(qs, withPrometheus, new Set()), {}).condition).toMatchObject({ status: 'False', reason: 'ArgoRolloutsMissing' });
    expect(rolloutStatus(resolvePlan(qs, withPrometheus, new Set()), {}).condition!.message).toContain('rolls every worker at once');
    expect(rolloutStatus(resolvePlan(qs, defaultRenderConfig), {}).condition).toMatchObject({ status: 'False', reason: 'PrometheusURLMissing' });
  });

  it('Unknown until Argo has written a status', () => {
    expect(rolloutStatus(plan, observed(rendered)).condition).toMatchObject({ status: 'Unknown', reason: 'WaitingForArgoRollouts' });
  });

  it('Healthy, then Progressing with the step in words', () => {
    expect(rolloutStatus(plan, observed(withStatus({ phase: 'Healthy', currentStepIndex: 4 }))).condition).toMatchObject({ status: 'True', reason: 'Healthy' });
    const p = rolloutStatus(plan, observed(withStatus({ phase: 'Paused', currentStepIndex: 2, message: 'CanaryPauseStep' })));
    expect(p.condition).toMatchObject({ status: 'True', reason: 'CanaryProgressing' });
    expect(p.status).toEqual({ phase: 'Paused', step: '3/4: pause 60s', message: 'CanaryPauseStep' });
  });

  it('CanaryFailedSLO names the SLO, what the canary measured and what was allowed', () => {
    const failed = run(
      [{ name: 'ttft-p95', phase: 'Failed', measurements: [{ phase: 'Failed', value: '[0.7813]' }] }, { name: 'latency-p95', phase: 'Successful', measurements: [{ phase: 'Successful', value: '[0.02]' }] }],
      [{ name: 'ttft-p95', successCondition: 'len(result) > 0 && result[0] <= 0.3' }],
    );
    const s = rolloutStatus(plan, observed(withStatus({ phase: 'Degraded', abort: true, currentStepIndex: 0, message: 'RolloutAborted: Rollout aborted update to revision 3' }), failed));
    expect(s.condition).toMatchObject({ status: 'False', reason: 'CanaryFailedSLO' });
    expect(s.condition!.message).toBe('canary rolled back: ttft-p95: 78.1% of the canary\'s requests were bad, more than the 30% allowed; every worker is back on the stable version (change the spec again to retry)');
    expect(s.status!.phase).toBe('Aborted');
    expect(failedGates(failed, plan.gate!)).toHaveLength(1);
  });

  it('an abort without a failed gate (a person ran kubectl argo rollouts abort) is RolloutAborted', () => {
    expect(rolloutStatus(plan, observed(withStatus({ phase: 'Degraded', abort: true, message: 'RolloutAborted' }))).condition).toMatchObject({ status: 'False', reason: 'RolloutAborted' });
  });

  it('BudgetExhausted while the budget step measures a spent budget, naming each spent SLO', () => {
    const budget = run([
      { name: 'ttft-p95', phase: 'Running', measurements: [{ phase: 'Inconclusive', value: '[-3.2]' }] },
      { name: 'latency-p95', phase: 'Successful', measurements: [{ phase: 'Successful', value: '[0.97]' }] },
    ]);
    const s = rolloutStatus(plan, observed(withStatus({ phase: 'Progressing', currentStepIndex: 0 }), budget));
    expect(s.condition).toMatchObject({ status: 'False', reason: 'BudgetExhausted' });
    expect(s.condition!.message).toContain('ttft-p95 (-320% left)');
    expect(s.condition!.message).not.toContain('latency-p95');
    expect(s.condition!.message).toContain('qwenops.io/rollout-ignore-budget');
    // The same numbers on a gate step are no budget verdict.
    expect(rolloutStatus(plan, observed(withStatus({ phase: 'Progressing', currentStepIndex: 3 }), budget)).condition!.reason).toBe('CanaryProgressing');
  });

  it('CanaryInconclusive when Argo paused on too few requests', () => {
    const s = rolloutStatus(plan, observed(withStatus({ phase: 'Paused', currentStepIndex: 3, pauseConditions: [{ reason: 'InconclusiveAnalysis' }] })));
    expect(s.condition).toMatchObject({ status: 'False', reason: 'CanaryInconclusive' });
    expect(s.condition!.message).toContain('kubectl argo rollouts promote|abort chat -n team-a');
  });

  it('announces a promotion only when the stable version changes: not a first deploy, not a rollback', () => {
    expect(promoted({ phase: 'Progressing', stableHash: 'a' }, { phase: 'Healthy', stableHash: 'b' })).toBe(true);
    expect(promoted({ phase: 'Progressing' }, { phase: 'Healthy', stableHash: 'a' })).toBe(false);
    expect(promoted(undefined, { phase: 'Healthy', stableHash: 'a' })).toBe(false);
    expect(promoted({ phase: 'Aborted', stableHash: 'a' }, { phase: 'Healthy', stableHash: 'a' })).toBe(false);
    expect(rolloutStatus(plan, observed(withStatus({ phase: 'Healthy', stableRS: 'abc' }))).status!.stableHash).toBe('abc');
  });

  it('after an abort (Argo cleared the step) finds the newest failed AnalysisRun of this Rollout', () => {
    const ar = (name: string, phase: string, at: string, owner = 'r1'): KubeObject => ({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisRun', metadata: { name, creationTimestamp: at, ownerReferences: [{ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', name: 'chat', uid: owner, controller: true, blockOwnerDeletion: true }] } as KubeObject['metadata'], status: { phase } });
    const runs = [ar('a-3-0', 'Successful', '2026-12-01T10:00:00Z'), ar('a-3-3', 'Failed', '2026-12-01T10:02:00Z'), ar('b-3-3', 'Failed', '2026-12-01T10:05:00Z', 'other'), ar('a-2-3', 'Failed', '2026-12-01T09:00:00Z')];
    expect(lastFailed(runs, 'r1')?.metadata.name).toBe('a-3-3');
    expect(lastFailed(runs.slice(0, 1), 'r1')).toBeUndefined();
  });

  it('reads Argo measurement values and the Rollout\'s pod counts', () => {
    expect(measuredValues('[0.5]')).toEqual([0.5]);
    expect(measuredValues('[]')).toEqual([]);
    expect(measuredValues('[1.5 2]')).toEqual([1.5, 2]);
    expect(rolloutReplicas(observed(withStatus({ phase: 'Healthy', replicas: 2, readyReplicas: 2, availableReplicas: 1, updatedReplicas: 2 })))).toEqual({ replicas: 2, readyReplicas: 1, updatedReplicas: 2, healthy: true });
    expect(rolloutReplicas(observed(rendered))).toBeUndefined();
  });
});
