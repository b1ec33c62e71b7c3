// The reasons table (src/conventions.ts REASONS): what each reason means, for status and Events.
// Status keeps to it (every condition the reconciler computes for the golden sample uses a reason
// declared for that condition), and the Event rules follow from it.
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ConditionType, REASONS, Reason, eventTypeOf, type ReasonMeaning } from '../../../src/conventions.ts';
import { computeStatus, type Observed } from '../../../src/controller/status.ts';
import { defaultRenderConfig } from '../../../src/plan/config.ts';
import { resolvePlan } from '../../../src/plan/index.ts';
import { OPTIONAL_KIND_KEYS } from '../../../src/plan/kinds.ts';
import { wholeQwenService } from '../golden/arbitrary.ts';
import type { HeaderState } from '../../../src/sizing/header-cache.ts';

const table = REASONS as Record<string, ReasonMeaning>;

describe('REASONS', () => {
  it('a dependency the cluster or the operator lacks (*Missing) is a Warning Event', () => {
    const missing = Object.keys(REASONS).filter((r) => r.endsWith('Missing'));
    expect(missing.sort()).toEqual(['ArgoRolloutsMissing', 'KEDAMissing', 'PrometheusOperatorMissing', 'PrometheusURLMissing']);
    for (const r of missing) expect([r, eventTypeOf(r)]).toEqual([r, 'Warning']);
  });

  it('no condition type is used as a reason', () => {
    const types = new Set<string>(Object.values(ConditionType));
    expect(Object.keys(REASONS).filter((r) => types.has(r))).toEqual([]);
  });

  it('Reason names every entry by itself', () => {
    expect(Object.entries(Reason).every(([k, v]) => k === v)).toBe(true);
    expect(Object.keys(Reason)).toEqual(Object.keys(REASONS));
  });

  it('announces becoming Ready and what needs attention; not the steps of a start; not a reason of KEDA\'s', () => {
    expect(eventTypeOf(Reason.AllWorkersReady)).toBe('Normal');
    expect(eventTypeOf(Reason.WaitingForGPU)).toBe('Warning');
    expect(eventTypeOf(Reason.WorkersStarting)).toBeUndefined();
    expect(eventTypeOf(Reason.CanaryProgressing)).toBeUndefined();
    expect(eventTypeOf('TriggerError')).toBeUndefined();
    expect(eventTypeOf(Reason.WithinBudget)).toBe('Normal');
  });

  it('status uses each reason only for the conditions it is declared for', () => {
    const config = { ...defaultRenderConfig, prometheusURL: 'http://prometheus:9090' };
    const observed: Observed = { pods: [], missingMonitoringKinds: ['PrometheusRule'], monitoringRequested: true, autoscaling: {} };
    const seen = new Set<string>();
    for (const qs of fc.sample(wholeQwenService, { seed: 7, numRuns: 60 })) {
      for (const served of [OPTIONAL_KIND_KEYS, new Set<string>()]) {
        for (const c of computeStatus(resolvePlan(qs, config, served), { ...observed, ...(qs.spec.rollout ? { rollout: {} } : {}) }, 'now').conditions ?? []) {
          expect([c.type, c.reason, table[c.reason]?.conditions.includes(c.type as never)]).toEqual([c.type, c.reason, true]);
          seen.add(c.reason);
        }
      }
    }
    // The sample reaches the reasons this test is about.
    for (const r of [Reason.KEDAMissing, Reason.ArgoRolloutsMissing, Reason.PrometheusOperatorMissing, Reason.WaitingForKEDA]) expect(seen).toContain(r);
  });

  it('SLAFeasible: status uses the declared reasons; a spec that cannot be met, or a head that cannot be read, is a Warning', () => {
    const config = { ...defaultRenderConfig, prometheusURL: 'http://prometheus:9090' };
    const observed: Observed = { pods: [], missingMonitoringKinds: [], monitoringRequested: false, autoscaling: {} };
    const headers: HeaderState[] = [{ state: 'pending' }, { state: 'failed', error: 'offline' }, { state: 'unavailable', why: 'no worker reported' }];
    const seen = new Set<string>();
    for (const qs of fc.sample(wholeQwenService, { seed: 7, numRuns: 20 })) {
      for (const header of headers) {
        const c = computeStatus(resolvePlan(qs, config, OPTIONAL_KIND_KEYS, { header, cpuBandwidthGBps: 20 }), observed, 'now').conditions?.find((x) => x.type === ConditionType.SLAFeasible);
        expect(table[c!.reason]?.conditions).toContain('SLAFeasible');
        seen.add(c!.reason);
      }
    }
    expect([...seen].sort()).toEqual(['ModelHeaderUnavailable', 'ModelHeaderUnreadable', 'ReadingModelHeader']);
    for (const r of [Reason.InsufficientMemory, Reason.TokensPerSecondUnreachable, Reason.ContextExceedsModel, Reason.ModelHeaderUnreadable]) expect([r, eventTypeOf(r)]).toEqual([r, 'Warning']);
    for (const r of [Reason.WithinPhysicalBounds, Reason.ReadingModelHeader, Reason.ModelHeaderUnavailable, Reason.GPUProductUnknown]) expect([r, eventTypeOf(r)]).toEqual([r, undefined]);
  });
});
