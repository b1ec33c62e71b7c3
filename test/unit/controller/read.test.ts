// Reading what Argo Rollouts, KEDA and the HPA write: parsed once into declared types; a field of
// another shape reads as absent, never as a wrong value.
import { describe, expect, it } from '@jest/globals';
import type { KubeObject } from '../../../src/kube/object.ts';
import { readAnalysisRun, readRollout, readScaledObjectConditions, readSpecReplicas } from '../../../src/controller/read.ts';

const obj = (spec: unknown, status: unknown): KubeObject => ({ apiVersion: 'x/v1', kind: 'X', metadata: { name: 'chat' }, spec: spec as Record<string, unknown>, status: status as Record<string, unknown> });

describe('reads', () => {
  it('a Rollout as Argo v1.10 writes it', () => {
    const r = readRollout(obj(
      { strategy: { canary: { steps: [{ setWeight: 25 }, { pause: { duration: '60s' } }, { analysis: { templates: [{ templateName: 'chat-slo-gate-1m' }] } }] } } },
      { phase: 'Paused', currentStepIndex: 1, stableRS: 'abc', abort: false, pauseConditions: [{ reason: 'CanaryPauseStep', startTime: 't' }], canary: { currentStepAnalysisRunStatus: { name: 'chat-1-2', status: 'Running' } }, replicas: 4, availableReplicas: 3 },
    ));
    expect(r.status).toMatchObject({ phase: 'Paused', currentStepIndex: 1, stableRS: 'abc', replicas: 4, availableReplicas: 3, pauseConditions: [{ reason: 'CanaryPauseStep' }] });
    expect(r.status.canary?.currentStepAnalysisRunStatus?.name).toBe('chat-1-2');
    expect(r.steps.map((s) => s.setWeight ?? s.pause?.duration ?? s.analysis?.templates[0]?.templateName)).toEqual([25, '60s', 'chat-slo-gate-1m']);
  });

  it('a field of another shape reads as absent, the rest still reads', () => {
    const r = readRollout(obj({ strategy: { canary: { steps: 'all' } } }, { phase: 3, replicas: 'four', stableRS: 'abc', pauseConditions: [{ reason: 1 }, { reason: 'InconclusiveAnalysis' }] }));
    expect(r.status).toEqual({ stableRS: 'abc', pauseConditions: [{ reason: 'InconclusiveAnalysis' }] });
    expect(r.steps).toEqual([]);
    expect(readRollout(undefined)).toEqual({ status: {}, steps: [] });
  });

  it('an AnalysisRun: results without a name are dropped, measurements kept', () => {
    const run = readAnalysisRun(obj({}, { phase: 'Failed', metricResults: [{ name: 'ttft-p95', phase: 'Failed', measurements: [{ phase: 'Failed', value: '[0.78]' }] }, { phase: 'Failed' }] }));
    expect(run).toEqual({ phase: 'Failed', metricResults: [{ name: 'ttft-p95', phase: 'Failed', measurements: [{ phase: 'Failed', value: '[0.78]' }] }] });
    expect(readAnalysisRun(obj({}, { metricResults: 'none' }))).toEqual({ metricResults: [] });
  });

  it('KEDA conditions, and the count in spec.replicas', () => {
    expect(readScaledObjectConditions(obj({}, { conditions: [{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady' }, { status: 'True' }] }))).toEqual([{ type: 'Ready', status: 'True', reason: 'ScaledObjectReady' }]);
    expect(readScaledObjectConditions(obj({}, { conditions: {} }))).toEqual([]);
    expect(readSpecReplicas(obj({ replicas: 3 }, {}))).toBe(3);
    expect(readSpecReplicas(obj({ replicas: '3' }, {}))).toBeUndefined();
    expect(readSpecReplicas(obj({}, {}))).toBeUndefined();
  });
});
